"""What the file readers yield: an ``IngestItem`` per document, or a ``ParseError`` that names
the file, line and ``.json`` array element it could not read."""

from __future__ import annotations

from dataclasses import dataclass

from content.items import locate
from content.services import IngestItem


@dataclass(frozen=True)
class ParseError:
    source: str
    message: str
    line: int | None = None
    item: int | None = None  # the element's number (from 1) in a ``.json`` array

    @property
    def error(self) -> str:  # the same name as ``ItemResult.error``
        return self.message

    def __str__(self) -> str:
        return f"{locate(self.source, line=self.line, item=self.item)}: {self.message}"


Parsed = IngestItem | ParseError
