"""Real activations captured from a model run: the ``.npz`` file ``layoutscope capture`` writes, read back.

The file is a plain numpy ``.npz`` (a zip of ``.npy`` arrays, read with
``allow_pickle=False``). For each matmul weight captured, three arrays:

- ``<name>/x``: float32 (R, K), R rows of the real input llama.cpp fed the weight;
- ``<name>/y``: float32 (R, N), llama.cpp's own output for those rows (the node's data);
- ``<name>/positions``: int32 (R, 2), each row's chunk index and token position in its chunk.

and one metadata entry, ``__metadata__``: the UTF-8 bytes (a uint8 array) of
a JSON object with ``format`` (``"layoutscope-activations"``), ``version``
(1), ``model`` (the path it was made from), ``model_fingerprint`` (its size
and the SHA-256 of its first and last MiB: a copy of the model matches,
another model does not), ``text`` (the text's label), ``ctx``, ``rows`` (R
asked for), ``tokens`` and ``chunks`` of the run, and ``weights`` (the names).

This module needs numpy only, so ``compare --input acts.npz`` never loads
llama.cpp. Every problem with a file (not an .npz, not ours, made from
another model, lacking the weight asked for) is one :class:`OptionError`
line naming the option, the path, why and what to do: exit 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, Optional

import numpy as np

from layoutscope.errors import printable
from layoutscope.measure.settings import invalid

FORMAT = "layoutscope-activations"
VERSION = 1
#: The key of the JSON metadata entry.
METADATA = "__metadata__"
#: Bytes hashed at each end of a model file for its fingerprint.
FINGERPRINT_SPAN = 1 << 20
#: What to do about a file that cannot be used.
REMEDY = "make one with `layoutscope capture MODEL.gguf -o acts.npz`"


@dataclass
class Captured:
    """One weight's captured rows: real input ``x`` (R, K), llama.cpp's output ``y`` (R, N), their positions."""

    x: np.ndarray
    y: np.ndarray
    positions: np.ndarray


@dataclass
class Activations:
    """Captured rows per weight and where they came from (see the module docstring for the file)."""

    weights: dict = field(default_factory=dict)
    model: str = ""
    fingerprint: dict = field(default_factory=dict)
    text: str = ""
    ctx: int = 0
    rows: int = 0
    tokens: int = 0
    chunks: int = 0
    #: Where the activations came from: the .npz path, or "" for a capture in this process.
    source: str = ""

    def __contains__(self, name: str) -> bool:
        return name in self.weights

    def describe(self, name: str) -> str:
        """``real, 64 rows of NAME's input captured from <text>, positions 0:1, …`` (which input ran)."""
        c = self.weights[name]
        shown = [f"{chunk}:{pos}" for chunk, pos in c.positions[:4].tolist()]
        more = ", …" if len(c.positions) > 4 else ""
        where = f" (read from {printable(self.source)})" if self.source else ""
        return (f"real, {len(c.x)} rows of {printable(name)}'s input captured from {self.text}{where}, "
                f"positions (chunk:token) {', '.join(shown)}{more}")

    def metadata(self) -> dict:
        """The JSON metadata entry."""
        return {"format": FORMAT, "version": VERSION, "model": self.model, "model_fingerprint": self.fingerprint,
                "text": self.text, "ctx": self.ctx, "rows": self.rows, "tokens": self.tokens,
                "chunks": self.chunks, "weights": list(self.weights)}

    def write(self, stream: BinaryIO) -> int:
        """Write the .npz to a binary stream; returns the number of weights written."""
        arrays = {METADATA: np.frombuffer(json.dumps(self.metadata()).encode("utf-8"), dtype=np.uint8)}
        for name, c in self.weights.items():
            arrays[f"{name}/x"], arrays[f"{name}/y"], arrays[f"{name}/positions"] = c.x, c.y, c.positions
        np.savez(stream, **arrays)
        return len(self.weights)


def model_fingerprint(path: str) -> dict:
    """The size of a model file and the SHA-256 of its first and last :data:`FINGERPRINT_SPAN` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(f.read(FINGERPRINT_SPAN))
        if size > FINGERPRINT_SPAN:
            f.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
            digest.update(f.read(FINGERPRINT_SPAN))
    return {"size": size, "sha256_ends": digest.hexdigest()}


def is_activations_path(spec: str) -> bool:
    """True when an ``--input`` names an activations file (by its ``.npz`` suffix)."""
    return str(spec).strip().lower().endswith(".npz")


def load_activations(path: str, model_path: Optional[str] = None, label: str = "--input") -> Activations:
    """The activations in ``path``, checked to come from ``model_path`` when given; one-line OptionErrors."""
    def bad(why: str):
        return invalid(label, path, f"{why}; {REMEDY}", path=True)

    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise bad("no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise bad(f"cannot be read as an .npz file ({printable(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise bad("is a single .npy array, not an activations .npz")
    with archive:
        try:
            meta = json.loads(bytes(archive[METADATA]).decode("utf-8")) if METADATA in archive.files else None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise bad(f"its metadata entry is damaged ({printable(exc)})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise bad("it is not an activations file made by layoutscope capture (no metadata entry)")
        if meta.get("version") != VERSION:
            raise bad(f"it is format version {printable(meta.get('version'))}, this layoutscope reads {VERSION}")
        if model_path is not None:
            mine = model_fingerprint(model_path)
            if meta.get("model_fingerprint") != mine:
                raise invalid(label, path, f"was captured from another model ({printable(meta.get('model', '?'))}, "
                              f"{printable((meta.get('model_fingerprint') or {}).get('size', '?'))} bytes), not "
                              f"{printable(model_path)} ({mine['size']} bytes); capture this model's activations with "
                              "`layoutscope capture`", path=True)
        acts = Activations(model=str(meta.get("model", "")), fingerprint=meta.get("model_fingerprint") or {},
                           text=str(meta.get("text", "")), ctx=int(meta.get("ctx", 0)), rows=int(meta.get("rows", 0)),
                           tokens=int(meta.get("tokens", 0)), chunks=int(meta.get("chunks", 0)), source=str(path))
        for name in meta.get("weights", []):
            try:
                c = Captured(archive[f"{name}/x"], archive[f"{name}/y"], archive[f"{name}/positions"])
            except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise bad(f"the arrays of {printable(name)} are missing or damaged ({printable(exc)})") from None
            if not _consistent(c):
                raise bad(f"the arrays of {printable(name)} do not fit together (x {c.x.shape} {c.x.dtype}, "
                          f"y {c.y.shape} {c.y.dtype}, positions {c.positions.shape})")
            acts.weights[name] = c
    return acts


def _consistent(c: Captured) -> bool:
    r = len(c.x)
    return (c.x.dtype == np.float32 and c.y.dtype == np.float32 and c.x.ndim == 2 and c.y.ndim == 2 and r >= 1
            and len(c.y) == r and c.positions.shape == (r, 2))


def rows_of(acts: Activations, name: str, k: int, n: int, label: str = "--input") -> Captured:
    """The captured rows of weight ``name`` (K, N checked), or an OptionError saying the file lacks them."""
    if name not in acts.weights:
        have = ", ".join(list(acts.weights)[:3]) + (", …" if len(acts.weights) > 3 else "")
        raise invalid(label, acts.source or "real", f"holds no rows of {printable(name)} (it has {len(acts.weights)} "
                      f"weight(s): {printable(have) or 'none'}); capture it with `layoutscope capture MODEL.gguf "
                      f"--filter NAME -o FILE.npz`", path=True)
    c = acts.weights[name]
    if c.x.shape[1] != k or c.y.shape[1] != n:
        raise invalid(label, acts.source or "real", f"its rows of {printable(name)} are x {c.x.shape}, y {c.y.shape}, "
                      f"but the weight takes K = {k} and gives N = {n}; {REMEDY}", path=True)
    return c
