"""Command palette providers: jump to any tensor by a fuzzy name (``tensor: blk.12.attn_q.weight``)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from layoutscope.errors import printable

#: Tensors offered before anything is typed.
DISCOVERY_LIMIT = 20


def _display(matcher, command: str) -> Content:
    """``command`` with the matched letters highlighted; a name with brackets stays plain text.

    Textual reads a highlight as markup: ``tensor: [/x]`` would be a markup
    error and ``[bold]`` a style, so such names are shown as they are.
    """
    return Content(command) if "[" in command else matcher.highlight(command)


class TensorProvider(Provider):
    """Every tensor of the open model, with its type, shape and offset as help."""

    async def startup(self) -> None:
        screen = getattr(self.app, "main_screen", None)
        model = getattr(screen, "model", None)
        # The names are shown escaped (a file's names may hold control characters); selecting uses the real one.
        self._tensors = [] if model is None else [
            (t.name, f"tensor: {printable(t.name)}",
             escape(f"{t.type_name} ne=[{', '.join(map(str, t.ne))}] @ byte {t.offset}")) for t in model.tensors
        ]
        # As enter on a Scan row: the tensor is shown even when the tree's filter hides it.
        self._select = screen.jump_to if screen is not None else None

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._tensors:
            score = matcher.match(command)
            if score > 0:
                yield Hit(score, _display(matcher, command), partial(self._select, name), text=command, help=help_text)

    async def discover(self) -> Hits:
        for name, command, help_text in self._tensors[:DISCOVERY_LIMIT]:
            yield DiscoveryHit(Content(command), partial(self._select, name), text=command, help=help_text)
