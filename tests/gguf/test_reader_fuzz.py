"""Seeded mutation fuzzing of the GGUF reader on both bundled samples.

Every mutated file must either open (and then survive touching its metadata
arrays and every tensor's bytes) or raise GGUFError: any other exception, or
a case that does not finish within the watchdog, fails with the seed and the
mutation so it can be replayed with ``mutate(data, fields, kind, seed)``.

Mutations are concentrated where they matter, in the header ``[0, data_start)``;
u64 counts, lengths, dimensions and offsets (and the u32 type fields) are
located by walking the sample's own builder, not by asking the reader.

A second fuzz feeds ggml: degenerate shapes (a zero or odd dimension) and
non-finite data (NaN or inf written into an F32 value, an fp16 scale, ...)
go through every path that reaches ggml (``to_float``, ``scan``'s matmuls,
``compare``). They run in child processes, in batches, with numpy warnings
as errors: an abort (``GGML_ASSERT``) fails naming the case that caused it,
and the only allowed outcomes are success, ``GGUFError`` or a one-line
``ValueError`` refusal.
"""

from __future__ import annotations

import json
import random
import signal
import struct
import subprocess
import sys
import textwrap
import traceback

import numpy as np
import pytest

import layoutscope
from layoutscope.gguf import GGUFError, MetadataArray
from layoutscope.samples.ggufwrite import ARRAY, STRING

WATCHDOG_SECONDS = 10
CASES = {"flip": 900, "truncate": 300, "huge": 500, "u32": 300}  # per sample: 2000, 4000 in all
HUGE = [2**63 - 1, 2**40, 2**32 + 1, 2**64 - 1, 2**63, 2**32, 2**31, 2**16 + 3, 1, 0]
FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def locate_fields(b) -> dict:
    """Byte positions of the header's u64 and u32 fields, by category, from the builder."""
    cats: dict = {"count": [8, 16], "key_len": [], "str_len": [], "array_count": [], "elem_len": [],
                  "ne": [], "tensor_offset": [], "name_len": [], "u32_version": [4], "u32_vtype": [],
                  "u32_etype": [], "u32_ndims": [], "u32_ggml_type": []}
    pos = 24

    def string(cat: str, text, at: int) -> int:
        cats[cat].append(at)
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return at + 8 + len(raw)

    for key, vtype, value, etype in b.kv:
        pos = string("key_len", key, pos)
        cats["u32_vtype"].append(pos)
        pos += 4
        if vtype == STRING:
            pos = string("str_len", value, pos)
        elif vtype == ARRAY:
            assert etype != ARRAY, "the samples have no nested arrays"
            cats["u32_etype"].append(pos)
            cats["array_count"].append(pos + 4)
            pos += 12
            if etype == STRING:
                for v in value:
                    pos = string("elem_len", v, pos)
            else:
                pos += FIXED_SIZES[etype] * len(value)
        else:
            pos += FIXED_SIZES[vtype]
    for t in b.tensors:
        pos = string("name_len", t.name, pos)
        cats["u32_ndims"].append(pos)
        pos += 4
        for _ in t.ne:
            cats["ne"].append(pos)
            pos += 8
        cats["u32_ggml_type"].append(pos)
        cats["tensor_offset"].append(pos + 4)
        pos += 12
    header = b.header_bytes()
    assert pos == len(header), "field walk disagrees with the builder's layout"
    return {"header_len": len(header), **cats}


def mutate(data: bytes, fields: dict, kind: str, seed: str) -> tuple[bytearray, str]:
    """One deterministic mutation of ``data``; returns the bytes and a description."""
    rng = random.Random(seed)
    out = bytearray(data)
    head = fields["header_len"] + 32  # header plus padding: where bytes matter most
    if kind == "flip":
        done = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 8])):
            pos = rng.randrange(head) if rng.random() < 0.85 else rng.randrange(len(out))
            old = out[pos]
            new = rng.choice([old ^ rng.randrange(1, 256), 0x00, 0xFF, old ^ (1 << rng.randrange(8))])
            out[pos] = new if new != old else old ^ 0xFF
            done.append(f"[{pos}] {old:#04x}->{out[pos]:#04x}")
        return out, "flip " + ", ".join(done)
    if kind == "truncate":
        n = rng.randrange(head) if rng.random() < 0.8 else rng.randrange(len(out))
        return out[:n], f"truncate to {n} of {len(data)} bytes"
    if kind == "huge":
        done = []
        for _ in range(rng.choice([1, 1, 1, 2])):
            cat = rng.choice(["count", "key_len", "str_len", "array_count", "elem_len", "ne",
                              "tensor_offset", "name_len"])
            if not fields[cat]:
                cat = "count"
            pos = rng.choice(fields[cat])
            value = rng.choice(HUGE + [len(data), len(data) - pos, rng.randrange(2**64)])
            out[pos : pos + 8] = struct.pack("<Q", value)
            done.append(f"{cat}@{pos}={value}")
        return out, "u64 " + ", ".join(done)
    if kind == "u32":
        cat = rng.choice(["u32_version", "u32_vtype", "u32_etype", "u32_ndims", "u32_ggml_type"])
        if not fields[cat]:
            cat = "u32_version"
        pos = rng.choice(fields[cat])
        value = rng.choice([rng.randrange(16), rng.randrange(64), 200, 2**31, 2**32 - 1, 0x03000000])
        out[pos : pos + 4] = struct.pack("<I", value)
        return out, f"u32 {cat}@{pos}={value}"
    raise ValueError(kind)


class Hang(Exception):
    """The watchdog fired: the reader did not finish a case in time."""


def _alarm(signum, frame):
    raise Hang(f"no result within {WATCHDOG_SECONDS} s")


def exercise(path) -> None:
    """Open the file and touch what a user would: arrays, every tensor's bytes."""
    with layoutscope.open(path) as m:
        assert all(isinstance(w, str) and "\n" not in w for w in m.warnings)
        for key, value in m.metadata.items():
            if isinstance(value, MetadataArray):
                n = len(value)
                for i in sorted({0, 1, n // 2, n - 1, -1}):
                    if -n <= i < n:
                        value[i]
                value[:3]
                if value.element_type != STRING:
                    assert value.to_numpy().shape == (n,)
        for t in m.tensors:
            raw = t.raw()
            assert raw.dtype == np.uint8 and raw.size == t.nbytes, t
            t.nb, t.shape, t.layer, repr(t)
            if t.type.can_dequantize and t.n_rows and t.ne[0]:
                with np.errstate(all="ignore"):
                    assert t.dequantize(0).shape == (1, t.ne[0]), t


def run_case(path, data: bytes, size_limit: int) -> None:
    path.write_bytes(data)
    try:
        exercise(path)
    except GGUFError as err:
        text = str(err)
        assert "\n" not in text, text
        assert err.offset is None or 0 <= err.offset <= size_limit, text
    finally:
        path.unlink()


def all_types_layout():
    """build_all_types() with zero payloads of the right sizes: the same header, but
    without ggml's slow one-time quantizer set-up (the data bytes are not needed here)."""
    from layoutscope.formats import ggml_type
    from layoutscope.samples import make_samples

    def payload(type_id, values):
        t = ggml_type(type_id)
        return bytes(values.size // t.block_size * t.type_size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(make_samples, "all_types_payload", payload)
        return make_samples.build_all_types()


@pytest.fixture(scope="module")
def fuzz_inputs(tiny_llama_path, all_types_path):
    from layoutscope.samples import make_samples

    inputs = {}
    for name, path, build in (("tiny-llama", tiny_llama_path, make_samples.build_tiny_llama),
                              ("all-types", all_types_path, all_types_layout)):
        data = path.read_bytes()
        b = build()
        head = b.header_bytes()
        assert data[: len(head)] == head, f"{path} is stale: regenerate it with make_samples.py"
        inputs[name] = (data, locate_fields(b))
    return inputs


def test_field_locator_finds_real_fields(fuzz_inputs):
    """The located positions hold what they should (checked against the builder's values)."""
    data, fields = fuzz_inputs["tiny-llama"]
    assert struct.unpack_from("<Q", data, 16)[0] == len(fields["key_len"])
    assert struct.unpack_from("<Q", data, 8)[0] == len(fields["name_len"]) == len(fields["tensor_offset"])
    assert struct.unpack_from("<Q", data, fields["array_count"][0])[0] == 1000
    assert struct.unpack_from("<Q", data, fields["tensor_offset"][0])[0] == 0
    assert all(struct.unpack_from("<I", data, p)[0] in (1, 2) for p in fields["u32_ndims"])
    assert len(fields["elem_len"]) == 1000


FUZZ_PARAMS = [
    pytest.param(sample, kind, id=f"{sample}-{kind}")
    for sample in ("tiny-llama", "all-types")
    for kind in CASES
]


@pytest.mark.parametrize("sample, kind", FUZZ_PARAMS)
def test_fuzz(sample, kind, fuzz_inputs, tmp_path):
    data, fields = fuzz_inputs[sample]
    previous = signal.signal(signal.SIGALRM, _alarm)
    failures: list = []
    try:
        for i in range(CASES[kind]):
            seed = f"{sample}/{kind}/{i}"
            mutated, what = mutate(data, fields, kind, seed)
            signal.alarm(WATCHDOG_SECONDS)
            try:
                run_case(tmp_path / f"case{i}.gguf", bytes(mutated), len(mutated))
            except Exception as exc:  # noqa: BLE001 - every other outcome is a finding
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append((exc, f"seed {seed!r} ({what}): {type(exc).__name__}: {exc} "
                                      f"[{tb.filename}:{tb.lineno}]"))
                if len(failures) >= 5:
                    break
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    if not failures:
        return
    report = f"{len(failures)} fuzz case(s) failed (replay: mutate(data, fields, kind, seed)):\n" + \
        "\n".join(line for _, line in failures)
    print(report)
    kinds = {type(exc) for exc, _ in failures}
    first = failures[0][0]
    if len(kinds) == 1 and not isinstance(first, (AssertionError, Hang)):
        # One kind of crash: re-raise it, so its traceback points into the reader.
        if hasattr(first, "add_note"):
            first.add_note(report)
        raise first
    pytest.fail(report, pytrace=False)


# -- what reaches ggml: degenerate shapes and non-finite data ------------------------------------------
GGML_CASES = {"shape": 20, "nonfinite": 20}  # per sample
#: Bit patterns of NaN, +inf and -inf for each float field type, little-endian.
NONFINITE_BYTES = {
    "float": [struct.pack("<f", v) for v in (float("nan"), float("inf"), float("-inf"))],
    "double": [struct.pack("<d", v) for v in (float("nan"), float("inf"), float("-inf"))],
    "ggml_half": [b"\x00\x7e", b"\x00\x7c", b"\x00\xfc"],
    "ggml_fp16_t": [b"\x00\x7e", b"\x00\x7c", b"\x00\xfc"],
    "ggml_bf16_t": [b"\xc0\x7f", b"\x80\x7f", b"\x80\xff"],
}


def tensor_data(b, header_len: int) -> list:
    """``(absolute data offset, nbytes, type id)`` of every tensor the builder lays out."""
    data_start = header_len + (-header_len % b.alignment)
    return [(data_start + off, len(t.data), t.type_id) for t, off in zip(b.tensors, b._offsets())]


def mutate_for_ggml(data: bytes, fields: dict, tensors: list, kind: str, seed: str) -> tuple[bytearray, str]:
    """A degenerate shape (``shape``) or non-finite values in the data (``nonfinite``); returns bytes and what."""
    from layoutscope.formats import ggml_type

    rng = random.Random(seed)
    out = bytearray(data)
    if kind == "shape":
        done = []
        for _ in range(rng.choice([1, 1, 2])):
            pos = rng.choice(fields["ne"])
            value = rng.choice([0, 0, 0, 1, 2, 16, 31, 32, 33, 256])
            out[pos:pos + 8] = struct.pack("<Q", value)
            done.append(f"ne@{pos}={value}")
        return out, "shape " + ", ".join(done)
    done = []
    for _ in range(rng.choice([1, 1, 2, 5])):
        start, nbytes, type_id = rng.choice(tensors)
        t = ggml_type(type_id)
        if not nbytes or t.block_size <= 0:
            continue
        block = start + rng.randrange(nbytes // t.type_size) * t.type_size
        floats = [f for f in t.fields if f.ctype in NONFINITE_BYTES]
        if floats:
            f = rng.choice(floats)
            pattern = rng.choice(NONFINITE_BYTES[f.ctype])
            out[block + f.offset:block + f.offset + len(pattern)] = pattern
            done.append(f"{t.name}.{f.name}@{block + f.offset}={pattern.hex()}")
        else:  # no float field (E8M0, packed scales): all-ones bytes are NaN or huge scales there
            out[block:block + 4] = b"\xff" * min(4, t.type_size)
            done.append(f"{t.name} block@{block}=ff")
    return out, "nonfinite " + (", ".join(done) or "none")


#: The child: every path into ggml on each file, numpy warnings as errors; one JSON line per event.
GGML_CHILD = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    warnings.simplefilter("error")
    import layoutscope
    from layoutscope.backend import get_backend
    from layoutscope.backend.libggml import load
    from layoutscope.measure.comparison import run_comparison
    from layoutscope.gguf import GGUFError
    from layoutscope.analyses.scan import ScanOptions, Scanner, scan_targets

    ggml = load()
    VARIANTS = [dict(backend="npu-sim", rows=2), dict(backend="npu-sim", rows=2, mm="fp16", reference="cpu-numpy"),
                dict(backend="npu-sim", rows=3, mm="int8-fp32", weight_quant="per-group:32"),
                dict(backend="npu-sim", rows=1, weight_quant="per-tensor", act_quant="per-token")]

    def exercise(path, variant):
        with layoutscope.open(path) as m:
            for t in m.tensors:
                if t.type.block_size > 0 and ggml.has_to_float(t.type.id):
                    ggml.to_float(t.type.id, t.raw(), t.n_elements)
                if t.n_dims == 2 and t.type.vec_dot_type is not None and t.type.is_weight_type:
                    try:  # every 2-D weight, empty ones included, straight into ggml's matmul
                        get_backend("cpu").matmul(t, np.ones((2, t.ne[0]), np.float32))
                    except ValueError:
                        pass
            Scanner(m, ScanOptions(**variant), jobs=1).run()
            targets = scan_targets(m)[0]
            if targets:
                w = targets[len(targets) // 2]
                x = np.random.default_rng(0).standard_normal((2, w.ne[0])).astype(np.float32)
                run_comparison(w, x, get_backend("npu-sim"), get_backend("cpu"))

    for i, (case, path) in enumerate(json.loads(sys.stdin.read())):
        print(json.dumps(["start", case]), flush=True)
        try:
            exercise(path, VARIANTS[i % len(VARIANTS)])
            outcome = "ok"
        except GGUFError as exc:
            outcome = "gguf" if "\\n" not in str(exc) else f"error: multi-line GGUFError: {exc!r}"
        except ValueError as exc:  # a one-line refusal (EmptyTensorError, a guard)
            outcome = "refused" if "\\n" not in str(exc) else f"error: multi-line ValueError: {exc!r}"
        except BaseException as exc:
            outcome = f"error: {type(exc).__name__}: {exc}"
        print(json.dumps(["done", case, outcome]), flush=True)
""")


@pytest.mark.parametrize("sample, kind", [pytest.param(s, k, id=f"{s}-{k}") for s in ("tiny-llama", "all-types")
                                          for k in GGML_CASES])
def test_mutants_that_reach_ggml_never_abort(sample, kind, fuzz_inputs, tmp_path):
    from layoutscope.samples import make_samples

    data, fields = fuzz_inputs[sample]
    b = make_samples.build_tiny_llama() if sample == "tiny-llama" else all_types_layout()
    tensors = tensor_data(b, fields["header_len"])
    cases = []
    for i in range(GGML_CASES[kind]):
        seed = f"{sample}/ggml-{kind}/{i}"
        mutated, what = mutate_for_ggml(data, fields, tensors, kind, seed)
        path = tmp_path / f"case{i}.gguf"
        path.write_bytes(bytes(mutated))
        cases.append((f"seed {seed!r} ({what})", str(path)))
    proc = subprocess.run([sys.executable, "-c", GGML_CHILD], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=600)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[\"")]
    started = [e[1] for e in events if e[0] == "start"]
    if proc.returncode != 0:
        pytest.fail(f"the child died (return code {proc.returncode}) during {started[-1] if started else '?'} "
                    f"(replay: mutate_for_ggml(data, fields, tensors, kind, seed)):\n{proc.stderr[-3000:]}",
                    pytrace=False)
    outcomes = {e[1]: e[2] for e in events if e[0] == "done"}
    assert len(outcomes) == len(cases)
    failures = [f"{case}: {outcome}" for case, outcome in outcomes.items() if outcome.startswith("error")]
    assert not failures, "\n".join(failures)
    if kind == "nonfinite":
        assert list(outcomes.values()).count("ok") >= len(cases) // 2  # most mutants open and run all the way
