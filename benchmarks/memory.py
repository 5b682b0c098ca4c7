"""Benchmark: RSS growth when opening a 7B-shaped sparse GGUF (LLaMA-2-7B Q8_0 shapes).

The data section is a hole, so reading any tensor byte would show in RSS.
Target: RSS grows by less than 30 MB, and the file mapping's resident pages
cover only the header.

    python benchmarks/memory.py
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _models import llama_tensors, vocab_builder, write_sparse_model  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def mapping_rss(path: str) -> int:
    """Resident bytes of every mapping of ``path`` in this process."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split()[0] and len(line.split()) >= 5:
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def main() -> int:
    import layoutscope
    from layoutscope.formats import all_types

    all_types()  # the registry is loaded once per process; not part of opening a file
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "llama-2-7b-q8_0-sparse.gguf")
        logical_size = write_sparse_model(path, vocab_builder(32_000), llama_tensors(32, 4096, 11008, 32_000))
        before = rss_bytes()
        model = layoutscope.open(path)
        table = [(t.name, t.type.name, t.ne, t.nb, t.offset, t.nbytes) for t in model.tensors]
        vocab = model.metadata["tokenizer.ggml.tokens"]
        _ = (len(vocab), vocab[0], vocab[-1])
        after = rss_bytes()
        mapped = mapping_rss(path)
        growth = (after - before) / 2**20
        print(f"file: {len(table)} tensors, {logical_size / 2**30:.2f} GiB logical (sparse), data starts at {model.data_start}")
        print(f"RSS growth after open + tensor table + vocab access: {growth:.1f} MB (target < 30 MB: {'met' if growth < 30 else 'NOT met'})")
        print(f"resident pages of the file mapping: {mapped / 2**20:.2f} MB; header is {model.data_start / 2**20:.2f} MB "
              f"({'no tensor data read' if mapped <= model.data_start + 2**16 else 'TENSOR DATA WAS READ'})")
        model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
