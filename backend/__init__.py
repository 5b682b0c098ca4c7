"""Compute backends for layoutscope, installed as ``layoutscope.backend``.

``libggml`` binds the real ggml library shipped by libggml-python: it is the
reference for dequantization (``to_float``), quantization and, later, the CPU
matmul that llama.cpp computes.
"""
