"""The option validators (layoutscope.measure.settings): what each accepts, and the one line it says otherwise."""

from __future__ import annotations

import os
from functools import partial

import pytest

from layoutscope.errors import UsageError
from layoutscope.measure import settings as options
from layoutscope.measure.settings import OptionError


def _count(minimum, maximum=None):
    return partial(options.whole_number, minimum=minimum, maximum=maximum)


# (validator, label, text, parsed value)
ACCEPTED = [
    (options.platform, "--platform", "RK3588", "rk3588"),
    (options.matmul_type, "--mm", "int8-fp32", "int8-fp32"),
    (options.weight_scheme, "--weight-quant", " Per-Channel ", "per-channel"),
    (options.weight_scheme, "--weight-quant", "per-group:32", "per-group:32"),
    (options.weight_scheme, "--weight-quant", "fixed", "fixed"),
    (options.weight_schemes, "--weight-quant", "per-tensor, per-group:64", ("per-tensor", "per-group:64")),
    (options.act_scheme, "--act-quant", "per-token", "per-token"),
    (options.act_scheme, "--act-quant", "fixed:4", "fixed:4"),
    (options.input_spec, "--input", "random", "random"),
    (options.input_spec, "--input", "random:42", "random:42"),
    (options.input_spec, "--input", "tokens:1,450", "tokens:1,450"),
    (options.token_ids, "--input", "tokens:1, 450,29871", [1, 450, 29871]),
    (_count(1), "--rows", "8", 8),
    (_count(0, 2), "--npu-core", "2", 2),
    (_count(0), "--top", "0", 0),
    (options.position, "--at", "3,100", (3, 100)),
    (options.position, "--at", "-1, -2", (-1, -2)),
    (options.index_range, "--cols", "-1:", "-1:"),
    (options.index_range, "--rows", ":", ":"),
    (options.index_range, "--rows", "7", "7"),
    (options.byte_size, "LAYOUTSCOPE_MEMORY_LIMIT", "1048576", 1 << 20),
    (options.byte_size, "LAYOUTSCOPE_MEMORY_LIMIT", "64M", 64 << 20),
    (options.byte_size, "LAYOUTSCOPE_MEMORY_LIMIT", "2GiB", 2 << 30),
    (partial(options.positive_float, high=1.0), "threshold", "5e-4", 5e-4),
]

# (validator, label, text, words the message holds after "label 'text'")
REFUSED = [
    (options.platform, "--platform", "rk9", "choose from rk3588, rk3576"),
    (options.matmul_type, "--mm", "int9", "choose from int8,"),
    (options.weight_scheme, "--weight-quant", "per-group:99999999999999999999", "out of range"),
    (options.weight_scheme, "--weight-quant", "per-group:³", "expected a whole number"),
    (options.weight_scheme, "--weight-quant", "per-group", "needs a group size G"),
    (options.weight_scheme, "--weight-quant", "per-group:0", "out of range"),
    (options.weight_scheme, "--weight-quant", "fixed:4", "take no range"),
    (options.weight_scheme, "--weight-quant", "per-row", "use per-channel, per-tensor"),
    (options.weight_schemes, "--weight-quant", "per-tensor,,per-channel", "separated by commas"),
    (options.weight_schemes, "--weight-quant", "per-tensor,per-tensor", "listed twice"),
    (options.act_scheme, "--act-quant", "fixed:1e39", "from 1e-30 to 1e+30"),
    (options.act_scheme, "--act-quant", "fixed:1e-45", "from 1e-30 to 1e+30"),
    (options.act_scheme, "--act-quant", "fixed:nan", "from 1e-30 to 1e+30"),
    (options.act_scheme, "--act-quant", "fixed", "need a clamp range R"),
    (options.input_spec, "--input", "random:-5", "out of range: use a whole number from 0"),
    (options.input_spec, "--input", "random:x", "expected a whole number"),
    (options.input_spec, "--input", "random:" + "9" * 5000, "expected a whole number"),
    (options.input_spec, "--input", "tokens:1,,2", "separated by single commas"),
    (options.input_spec, "--input", "tokens:", "separated by single commas"),
    (options.input_spec, "--input", "tokens:-1", "out of range"),
    (options.input_spec, "--input", "tokens:99999999999", "out of range"),
    (options.input_spec, "--input", "nope", "not an input form nor an existing file"),
    (options.input_spec, "--input", "missing.npy", "no such .npy file"),
    (_count(1), "--threads", "0", "out of range: use a whole number from 1"),
    (_count(1), "--threads", "-1", "out of range"),
    (_count(1), "--jobs", "two", "expected a whole number"),
    (_count(0), "--top", "-5", "out of range"),
    (_count(0, 2), "--npu-core", "5", "from 0 to 2"),
    (options.position, "--at", "3", "expected ROW,COL"),
    (options.position, "--at", "a,b", "expected ROW,COL"),
    (options.index_range, "--cols", "1:2:3", "expected A:B"),
    (options.index_range, "--rows", "x:", "expected A:B"),
    (options.index_range, "--rows", "", "expected A:B"),
    (options.byte_size, "LAYOUTSCOPE_MEMORY_LIMIT", "12Q", "expected a size in bytes"),
    (partial(options.positive_float, high=1.0), "threshold", "2", "at most 1"),
    (partial(options.positive_float), "threshold", "inf", "finite number"),
]


@pytest.mark.parametrize("validator, label, text, expected", ACCEPTED, ids=[f"{c[1]}={c[2]}" for c in ACCEPTED])
def test_accepted_values_parse(validator, label, text, expected):
    assert validator(text, label) == expected


@pytest.mark.parametrize("validator, label, text, words", REFUSED, ids=[f"{c[1]}={c[2][:20]}" for c in REFUSED])
def test_refused_values_are_one_line_naming_the_option_and_the_value(validator, label, text, words):
    with pytest.raises(OptionError) as caught:
        validator(text, label)
    message = str(caught.value)
    shown = text if len(text) <= 80 else text[:80]
    assert message.startswith(f"{label} '{shown}"), message
    assert words in message, message
    assert "\n" not in message and len(message) < 300, message


@pytest.mark.parametrize("text, size, expected", [
    ("0:4", 10, range(0, 4)),
    ("-1:", 10, range(9, 10)),
    ("-3:-1", 10, range(7, 9)),
    (":", 10, range(0, 10)),
    ("3", 10, range(3, 4)),
    ("-3", 10, range(7, 8)),
    ("2:100", 10, range(2, 10)),
    (None, 10, range(0, 8)),
    (None, 5, range(0, 5)),
])
def test_parse_range_resolves_negative_indices_and_clips_the_end(text, size, expected):
    assert options.parse_range(text, size, "rows") == expected


@pytest.mark.parametrize("text, size, words", [
    ("5:2", 10, "selects no rows"),
    ("10", 10, "outside the 10 rows"),
    ("-11:", 10, "outside the 10 rows"),
    ("0:", 0, "there are no rows"),
])
def test_parse_range_refuses_ranges_outside_or_empty(text, size, words):
    with pytest.raises(OptionError, match=words) as caught:
        options.parse_range(text, size, "rows")
    assert str(caught.value).startswith(f"--rows '{text}'")


def test_environment_variables_are_validated(monkeypatch):
    monkeypatch.delenv("LAYOUTSCOPE_THREADS", raising=False)
    monkeypatch.delenv("LAYOUTSCOPE_MEMORY_LIMIT", raising=False)
    assert options.threads_from_env() is None and options.memory_limit_from_env() is None
    monkeypatch.setenv("LAYOUTSCOPE_THREADS", "4")
    monkeypatch.setenv("LAYOUTSCOPE_MEMORY_LIMIT", "512K")
    assert options.threads_from_env() == 4 and options.memory_limit_from_env() == 512 << 10
    for bad in ("abc", "0", "-2"):
        monkeypatch.setenv("LAYOUTSCOPE_THREADS", bad)
        with pytest.raises(UsageError, match=f"^LAYOUTSCOPE_THREADS '{bad}'"):
            options.threads_from_env()


def test_regular_file_refuses_what_cannot_be_read_as_a_file(tmp_path):
    regular = tmp_path / "x.npy"
    regular.write_bytes(b"data")
    link = tmp_path / "link.npy"
    link.symlink_to(regular)
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    assert options.regular_file(str(regular), "--input") == str(regular)
    assert options.regular_file(str(link), "--input") == str(link)
    cases = [(fifo, "a FIFO"), (tmp_path, "a directory"), ("/dev/null", "a character device"),
             (tmp_path / "missing.npy", "no such file")]
    if os.path.exists("/proc/self/status"):
        cases.append(("/proc/self/status", "kernel pseudo-file"))
    for path, words in cases:
        with pytest.raises(OptionError, match=words):
            options.regular_file(str(path), "--input")
