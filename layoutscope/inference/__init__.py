"""Whole models through llama.cpp (the next stage; empty for now).

This is where the model itself will run: llama.cpp through llama-cpp-python,
its evaluation callback capturing the real input X and output Y of every
MUL_MAT node (``capture``), the NPU side's results injected back into the
graph, and the end-to-end measures a user cares about (``evaluate``: KL
divergence, top-1 agreement, perplexity, drift per layer), then sweeps and the
offload plan. It sits beside :mod:`layoutscope.analyses`, above
:mod:`layoutscope.measure`, and it is the only place besides the ggml binding
that may import ``llama_cpp`` (lazily). See DESIGN.md's data flow.
"""
