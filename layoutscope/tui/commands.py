"""Command palette providers: jump to any tensor by a fuzzy name (``tensor: blk.12.attn_q.weight``)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: Tensors offered before anything is typed.
DISCOVERY_LIMIT = 20


class TensorProvider(Provider):
    """Every tensor of the open model, with its type, shape and offset as help."""

    async def startup(self) -> None:
        screen = getattr(self.app, "main_screen", None)
        model = getattr(screen, "model", None)
        self._tensors = [] if model is None else [
            (t.name, f"{t.type.name} ne=[{', '.join(map(str, t.ne))}] @ byte {t.offset}") for t in model.tensors
        ]
        self._select = screen.select_tensor if screen is not None else None

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text in self._tensors:
            command = f"tensor: {name}"
            score = matcher.match(command)
            if score > 0:
                yield Hit(score, matcher.highlight(command), partial(self._select, name), text=command, help=help_text)

    async def discover(self) -> Hits:
        for name, help_text in self._tensors[:DISCOVERY_LIMIT]:
            yield DiscoveryHit(f"tensor: {name}", partial(self._select, name), help=help_text)
