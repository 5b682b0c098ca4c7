"""``layoutscope info``: header, architecture, tensors grouped by layer, warnings."""

from __future__ import annotations

from layoutscope.gguf import Model, Tensor
from layoutscope.errors import printable, printable_lines
from layoutscope.report.summary import architecture_summary, human_bytes, json_value, layer_groups, preview
from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Print the summary of ``args.file`` as text or JSON, and write ``--json-file``."""
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths)
        data = as_json(model, args.metadata) if args.json or outputs.get("--json-file") else None
        outputs.export_json(data)
        outputs.print_report(lambda: as_text(model, args.metadata), lambda: data)
    outputs.finish()
    return 0


def tensor_row(t: Tensor) -> dict:
    """The facts of one tensor that the table and JSON show."""
    bpw = t.type.bits_per_weight
    return {
        "name": t.name,
        "type": t.type.name,
        "type_id": t.type.id,
        "ne": list(t.ne),
        "nb": list(t.nb),
        "shape": list(t.shape),
        "offset": t.offset,
        "nbytes": t.nbytes,
        "bpw": bpw,
        "layer": t.layer,
        "layer_group": t.layer_group,
        "file": t.path,
    }


def as_json(model: Model, with_metadata: bool) -> dict:
    """The whole summary as plain data."""
    out = {
        "file": model.path,
        "shards": list(model.paths),
        "version": model.version,
        "byteorder": "little" if model.byteorder == "<" else "big",
        "alignment": model.alignment,
        "data_start": model.data_start,
        "file_size": model.file_size,
        "n_kv": len(model.entries),
        "n_tensors": len(model.tensors),
        "summary": architecture_summary(model),
        "tensors": [tensor_row(t) for t in model.tensors],
        "warnings": list(model.warnings),
    }
    if with_metadata:
        out["metadata"] = {
            k: {"type": e.type_name, "offset": e.offset, "value": json_value(e.value)}
            for k, e in model.entries.items()
        }
    return out


def as_text(model: Model, with_metadata: bool) -> str:
    """The whole summary as aligned text; file-borne names and values escaped (:mod:`layoutscope.errors`)."""
    lines = [model.path]
    if len(model.paths) > 1:
        lines.append(f"  {len(model.paths)} shards: " + ", ".join(model.paths))
    order = "little-endian" if model.byteorder == "<" else "big-endian"
    lines.append(
        f"  GGUF v{model.version}, {order} · {len(model.tensors)} tensors · {len(model.entries)} metadata keys · "
        f"alignment {model.alignment} · data starts at byte {model.data_start} · {human_bytes(model.file_size)}"
    )
    summary = architecture_summary(model)
    if summary.get("architecture") is None:
        summary["architecture"] = "no architecture (general.architecture is missing; llama.cpp cannot run this file)"
    lines.append("  " + " · ".join(f"{k} {v}" if k != "architecture" else str(v) for k, v in summary.items()))
    if with_metadata:
        lines.append("")
        lines.append(f"metadata ({len(model.entries)} keys)")
        keys = [printable(k) for k in model.entries]  # escaped before the widths are taken
        kw = max((len(k) for k in keys), default=0)
        tw = max((len(e.type_name) for e in model.entries.values()), default=0)
        for k, e in zip(keys, model.entries.values()):
            lines.append(f"  {k:<{kw}}  {e.type_name:<{tw}}  {preview(e.value)}")
    lines.append("")
    lines.extend(_tensor_table(model))
    if model.warnings:
        lines.append("")
        lines.append(f"warnings ({len(model.warnings)})")
        lines.extend(f"  - {w}" for w in model.warnings)
    return printable_lines(lines)


def _tensor_table(model: Model) -> list[str]:
    header = ("name", "type", "ne", "nb", "offset", "size", "bpw")
    rows = []
    groups = layer_groups(model)
    for _, tensors in groups:
        for t in tensors:
            bpw = t.type.bits_per_weight
            rows.append((
                printable(t.name), t.type.name, "[" + ", ".join(map(str, t.ne)) + "]",
                "[" + ", ".join(map(str, t.nb)) + "]", str(t.offset), str(t.nbytes),
                f"{bpw:g}" if bpw is not None else "?",
            ))
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    right = {4, 5, 6}

    def line(cells):
        return "  " + "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"tensors ({len(model.tensors)})", line(header)]
    it = iter(rows)
    for label, tensors in groups:
        out.append(f" {label}")
        out.extend(line(next(it)) for _ in tensors)
    return out
