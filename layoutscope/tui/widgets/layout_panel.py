"""The Layout panel: type, strides with their arithmetic, block fields, annotated hex, the trap, the NPU side.

What it explains with (the block anatomy, the float text, the NPU tables)
loads when the first tensor is shown, not with the app: the first frame needs
none of it.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.console import Group
from rich.text import Text

from layoutscope.layout.hexview import blocks_around, field_kind, hex_text, raw_lines
from layoutscope.measure.session import no_data_reason
from layoutscope.errors import printable
from layoutscope.tui.widgets.text_view import TextView

#: Styles of byte kinds in the hex view and the field diagram (bold/underline keep them apart without colour).
KIND_STYLE = {"scale": "bold yellow", "quant": "cyan", "value": "green", "raw": ""}
CURSOR_STYLE = "reverse"
_EXPLAIN_CACHE = 64


def section(title: str) -> Text:
    """A section heading."""
    return Text(title, style="bold underline")


def field_diagram(fields, type_size: int, width: int) -> Text:
    """One line: each field as ``[name····]`` in proportion to its bytes, within ``width``."""
    room = max(10, width - 2 - 2 * len(fields))
    inner = [max(len(f.name), f.size * room // type_size) for f in fields]
    over = sum(inner) - room
    if over > 0:
        widest = inner.index(max(inner))
        inner[widest] = max(len(fields[widest].name), inner[widest] - over)
    out = Text("  ")
    for f, n in zip(fields, inner):
        out.append("[" + f.name.ljust(n, "·") + "]", style=KIND_STYLE[field_kind(f.name)])
    return out


def trap_lines(trap) -> list[Text]:
    """The plain-int8 trap: what a naive reader sees, the true value, and what the byte really is."""
    from layoutscope.report.numbers import shortest_text

    out = [Text(printable(f"  {trap.summary}")), Text(f"  {'col':>6} {'int8':>5} {'true value':>13}  byte really is", style="bold")]
    for c, naive, value, o in zip(trap.cols, trap.naive, trap.true_values, trap.owners):
        if o.past_end is not None:
            where = f"+{o.past_end} B past the tensor" if o.file_byte is not None else "past the end of the file"
        else:
            where = f"{o.field}[{o.byte_in_field}] blk {o.block}" + (f" +{o.rows_ahead} row" if o.rows_ahead else "")
        out.append(Text(f"  {c:>6} {'—' if naive is None else naive:>5} {shortest_text(value):>13}  {where}"))
    return out


class LayoutPanel(TextView):
    """Everything about the bytes of the selected tensor around the cursor element."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._explained: "OrderedDict[tuple, object]" = OrderedDict()

    def show(self, tensor, row: int, col: int, settings) -> None:
        """Render ``tensor`` with the cursor at (row, col) and the NPU side of ``settings``."""
        try:
            parts = self._parts(tensor, row, col, settings)
        except Exception as exc:  # noqa: BLE001 - a bad tensor must not take the app down
            parts = [Text(printable(f"cannot explain {tensor.name}: {type(exc).__name__}: {exc}"), style="bold red")]
        self.update(Group(*parts))

    def remember(self, tensor, row: int, col: int, explanation) -> None:
        """Cache an explanation computed ahead of time (by a prefetching worker)."""
        self._explained[(tensor.name, id(tensor), row, col)] = explanation
        if len(self._explained) > _EXPLAIN_CACHE:
            self._explained.popitem(last=False)

    def _explain(self, tensor, row: int, col: int):
        hit = self._explained.get((tensor.name, id(tensor), row, col))
        if hit is None:
            from layoutscope.layout.blocks import explain

            hit = explain(tensor, row, col)
            self.remember(tensor, row, col, hit)
        return hit

    def _parts(self, tensor, row: int, col: int, settings) -> list:
        from layoutscope.layout.blocks import element_lines
        from layoutscope.report.summary import human_bytes

        t = tensor.type
        width = max(40, self.scrollable_content_region.width - 1)
        if t.block_size <= 0:
            return self._unknown(tensor)
        empty = no_data_reason(tensor)
        if empty:
            return self._empty(tensor, empty)
        e = self._explain(tensor, row, col)
        elements = "1 element" if t.block_size == 1 else f"{t.block_size} elements"
        head = Text.assemble((f"{t.name}", "bold"), f" · type id {t.id} · {elements} in {t.type_size} bytes · "
                             f"{t.bits_per_weight:g} bits per weight")
        parts: list = [head]
        if e.description:
            parts.append(Text(f"  {e.description}", style="dim"))
        parts.append(Text(f"ne = [{', '.join(map(str, e.ne))}]   nb = [{', '.join(map(str, e.nb))}]   "
                          f"shape (numpy) = ({', '.join(map(str, tensor.shape))})"))
        for s in e.strides:
            parts.append(Text(f"  {s.name} = {s.arithmetic}   {s.meaning}"))
        parts.append(Text(f"data: bytes {tensor.offset}..{tensor.end} ({tensor.nbytes} B, {human_bytes(tensor.nbytes)})"))
        parts += [Text(""), section("block fields"), field_diagram(e.fields, t.type_size, width)]
        for f in e.fields:
            parts.append(Text(f"  @{f.offset:<4} {f.name:<8} {f.size:>4} B  {f.ctype:<14} {f.meaning}"))
        if e.element is not None:
            parts += [Text(""), section(f"element (row {row}, col {col})")]
            # The block's bytes are in the annotated hex below, so the plain hex line is left out.
            parts += [Text(printable(line)) for line in element_lines(e, e.element)[1:]
                      if not line.startswith("  block bytes:")]
        cursor = e.element.quant_file_bytes if e.element is not None else ()
        parts += [Text(""), section("bytes around the element")]
        parts.append(Text.assemble("  ", ("scale/min", KIND_STYLE["scale"]), "  ", ("codes", KIND_STYLE["quant"]), "  ",
                                   ("plain value", KIND_STYLE["value"]), "  ", ("[element]", CURSOR_STYLE)))
        per_line = 16 if width >= 62 else 8
        for block in blocks_around(tensor, row, col, cursor, max_bytes=112 if t.block_size > 1 else 48):
            parts.append(Text(("▶ " if block.is_cursor_block else "  ") + block.heading, style="bold" if block.is_cursor_block else "dim"))
            for line in block.lines:
                for i in range(0, len(line), per_line):
                    parts.append(self._hex_line(line[i : i + per_line]))
        if e.trap is not None:
            parts += [Text(""), section("read as plain int8 (the trap)")]
            parts += trap_lines(e.trap)
        parts += [Text(""), section("NPU side")] + self._npu(tensor, row, col, settings)
        if e.notes:
            parts += [Text(""), section("notes")] + [Text(printable(f"  - {n}")) for n in e.notes]
        return parts

    def _empty(self, tensor, reason: str) -> list:
        t = tensor.type
        return [
            Text.assemble((f"{t.name}", "bold"), f" · type id {t.id} · {t.type_size} bytes per block of {t.block_size}"),
            Text(f"ne = [{', '.join(map(str, tensor.ne))}]   nb = [{', '.join(map(str, tensor.nb))}]"),
            Text(f"data: {tensor.nbytes} bytes at byte {tensor.offset}"),
            Text(""),
            Text(reason, style="bold yellow"),
            Text("The tree, the metadata and the other tensors are unaffected.", style="dim"),
        ]

    def _hex_line(self, cells) -> Text:
        text = Text(hex_text(cells)[:12])
        for i, c in enumerate(cells):
            if i:
                text.append(" ")
            style = KIND_STYLE[c.kind] + (" " + CURSOR_STYLE if c.cursor else "")
            text.append(f"{c.value:02x}", style=style.strip())
        return text

    def _unknown(self, tensor) -> list:
        t = tensor.type
        how = "inferred from the next tensor's offset" if tensor.extent_inferred else "declared"
        parts = [
            Text(f"{t.name} (type id {t.id})", style="bold"),
            Text(f"values are not available: {t.unavailable_reason()}", style="bold yellow"),
            Text(f"ne = [{', '.join(map(str, tensor.ne))}]; {tensor.nbytes} raw bytes at byte {tensor.offset} ({how})"),
            Text(""), section("raw bytes (first 256)"),
        ]
        parts += [Text(hex_text(line)) for line in raw_lines(tensor, 256)]
        return parts

    def _npu(self, tensor, row: int, col: int, settings) -> list:
        if tensor.n_dims != 2:
            return [Text(printable(f"  {tensor.name} is not a 2-D matmul weight (ne = {list(tensor.ne)}): "
                                   "it never reaches the NPU as B"))]
        from layoutscope.backend.rknpu2.requantize import parse_scheme
        from layoutscope.layout.npu_location import locate_in_calls

        try:
            scheme = parse_scheme(settings.weight_quant)
            group = scheme.group if scheme.kind == "per-group" else None
            loc = locate_in_calls(settings.platform, settings.mm, tensor.ne[0], tensor.ne[1], col, row, group)
        except (ValueError, IndexError) as exc:
            return [Text(printable(f"  {exc}"), style="yellow")]
        return [Text(f"  {line}", style="yellow" if "UNCERTAIN" in line else "") for line in loc.lines()]
