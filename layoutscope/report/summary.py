"""Human summaries of a model: architecture line, layer groups, file-type names, sizes, value previews."""

from __future__ import annotations

from typing import Any

from layoutscope.gguf import MetadataArray, Model, Tensor
from layoutscope.report.numbers import float_text

#: general.file_type values (llama.cpp's LlamaFileType), for display only.
FILE_TYPES = {
    0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0",
    8: "MOSTLY_Q5_0", 9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L", 14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K", 19: "MOSTLY_IQ2_XXS",
    20: "MOSTLY_IQ2_XS", 21: "MOSTLY_Q2_K_S", 22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M",
    28: "MOSTLY_IQ2_S", 29: "MOSTLY_IQ2_M", 30: "MOSTLY_IQ4_XS", 31: "MOSTLY_IQ1_M",
    32: "MOSTLY_BF16", 36: "MOSTLY_TQ1_0", 37: "MOSTLY_TQ2_0", 38: "MOSTLY_MXFP4_MOE",
    39: "MOSTLY_NVFP4", 40: "MOSTLY_Q1_0", 1024: "GUESSED",
}

# (label, key suffix under "{arch}.")
_ARCH_KEYS = (
    ("layers", "block_count"),
    ("context", "context_length"),
    ("embedding", "embedding_length"),
    ("feed-forward", "feed_forward_length"),
    ("heads", "attention.head_count"),
    ("kv heads", "attention.head_count_kv"),
    ("experts", "expert_count"),
)


def architecture_summary(model: Model) -> dict[str, Any]:
    """Key architecture facts from the metadata (absent keys are left out), ready for JSON (NaN as "nan")."""
    arch = model.architecture
    out: dict[str, Any] = {"architecture": arch}
    md = model.metadata
    for label, suffix in _ARCH_KEYS:
        value = md.get(f"{arch}.{suffix}")
        if value is not None:
            out[label] = value if not isinstance(value, MetadataArray) else value.head(8)
    tokens = md.get("tokenizer.ggml.tokens")
    if isinstance(tokens, MetadataArray):
        out["vocab"] = len(tokens)
    if "tokenizer.ggml.model" in md:
        out["tokenizer"] = md["tokenizer.ggml.model"]
    file_type = md.get("general.file_type")
    if isinstance(file_type, int):
        out["file type"] = FILE_TYPES.get(file_type, f"unknown ({file_type})")
    if isinstance(md.get("general.name"), str):
        out["name"] = md["general.name"]
    from layoutscope.measure.jsonable import jsonable

    return jsonable(out)


def human_bytes(n: int) -> str:
    """``47906816`` → ``45.69 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def preview(value: Any, items: int = 6, width: int = 60) -> str:
    """A short text form of a metadata value; big arrays as first items + length."""
    if isinstance(value, MetadataArray):
        head = ", ".join(_short(v, 24) for v in value.head(items))
        more = ", ..." if len(value) > items else ""
        return f"[{head}{more}] ({len(value)} items)"
    return _short(value, width)


def _short(value: Any, width: int) -> str:
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, float):
        text = float_text(value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def json_value(value: Any, items: int = 16) -> Any:
    """A JSON-ready metadata value; arrays summarised as count + first items."""
    from layoutscope.measure.jsonable import jsonable

    if isinstance(value, MetadataArray):
        return {"element_type": value.element_type.name, "count": len(value), "head": jsonable(value.head(items))}
    return jsonable(value)


def layer_groups(model: Model) -> list[tuple[str, list[Tensor]]]:
    """Tensors grouped for display: non-layer tensors first, then each layer in order."""
    outside = [t for t in model.tensors if t.layer is None]
    layers: dict[tuple[str, int], list[Tensor]] = {}
    for t in model.tensors:
        if t.layer is not None:
            layers.setdefault((t.layer_group or "", t.layer), []).append(t)
    groups = [("not in a layer", outside)] if outside else []
    for (group, layer), tensors in sorted(layers.items()):
        label = f"{group}.blk.{layer}" if group else f"layer {layer}"
        groups.append((label, tensors))
    return groups
