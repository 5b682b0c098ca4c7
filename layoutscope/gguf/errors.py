"""GGUFError: one line saying what is wrong, at which byte, and what to do."""

from __future__ import annotations

from typing import Optional


class GGUFError(ValueError):
    """A file is not a readable GGUF model.

    ``offset`` is the byte position in ``path`` where the problem was found
    (None when it is not tied to one byte, e.g. a missing shard).
    """

    def __init__(
        self,
        message: str,
        offset: Optional[int] = None,
        path: Optional[str] = None,
        hint: Optional[str] = None,
    ):
        self.message = message
        self.offset = offset
        self.path = path
        self.hint = hint
        super().__init__(self.line())

    def __str__(self) -> str:
        return self.line()

    def line(self) -> str:
        """The whole error as one line: where, what, and what to do."""
        where = []
        if self.path:
            where.append(str(self.path))
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        text = (": ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def with_path(self, path: str) -> "GGUFError":
        """The same error, naming the file it was found in."""
        return GGUFError(self.message, self.offset, path, self.hint)
