"""Bundled sample GGUF files; ``path(name)`` finds one on disk."""
