"""Seeded mutation fuzzing of the GGUF reader on both bundled samples.

Every mutated file must either open (and then survive touching its metadata
arrays and every tensor's bytes) or raise GGUFError: any other exception, or
a case that does not finish within the watchdog, fails with the seed and the
mutation so it can be replayed with ``mutate(data, fields, kind, seed)``.

Mutations are concentrated where they matter, in the header ``[0, data_start)``;
u64 counts, lengths, dimensions and offsets (and the u32 type fields) are
located by walking the sample's own builder, not by asking the reader.
"""

from __future__ import annotations

import random
import signal
import struct
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
