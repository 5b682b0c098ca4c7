"""Benchmark: open a GGUF with a 262,144-token vocabulary and build its tensor table.

Anchors measured in the same run: ggml's C ``gguf_init_from_file`` (no_alloc,
through libggml) and gguf-py's ``GGUFReader``. Targets: layoutscope ≤ 1.0× ggml C
and ≥ 100× faster than GGUFReader.

    python benchmarks/open.py [--vocab 262144] [--repeat 7] [--skip-gguf-py]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _models import llama_tensors, vocab_builder, write_sparse_model  # noqa: E402



from _timing import best_of  # noqa: E402

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=262_144)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-gguf-py", action="store_true", help="GGUFReader takes ~15 s on 262k tokens")
    args = parser.parse_args()

    import layoutscope
    from layoutscope.backend.libggml import load

    ggml = load()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab.gguf")
        size = write_sparse_model(path, vocab_builder(args.vocab), llama_tensors(32, 4096, 11008, args.vocab))
        print(f"file: {args.vocab} tokens + scores + token types, 291 tensors, {size / 2**30:.2f} GiB (sparse)")

        def ours():
            with layoutscope.open(path) as m:
                return [(t.name, t.type.name, t.ne, t.nb, t.offset, t.nbytes) for t in m.tensors]

        n = len(ours())  # warm the registry and the page cache
        ggml.gguf_open_close(path)
        t_ours = best_of(ours, args.repeat)
        t_ggml = best_of(lambda: ggml.gguf_open_close(path), args.repeat)
        print(f"layoutscope.open + tensor table ({n} rows): {t_ours * 1e3:8.1f} ms")
        print(f"ggml C gguf_init_from_file (no_alloc):     {t_ggml * 1e3:8.1f} ms")
        ratio = t_ours / t_ggml
        print(f"ratio layoutscope / ggml C = {ratio:.2f}x  (target <= 1.0x: {'met' if ratio <= 1.0 else 'NOT met'})")
        if not args.skip_gguf_py:
            import gguf

            t_py = best_of(lambda: gguf.GGUFReader(path), 1)
            print(f"gguf.GGUFReader:                           {t_py * 1e3:8.1f} ms")
            speedup = t_py / t_ours
            print(f"speed-up over GGUFReader = {speedup:.0f}x  (target >= 100x: {'met' if speedup >= 100 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
