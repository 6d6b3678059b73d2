"""Where things sit on a page: the prepared signature box, and whether a rectangle covers the page's text.

A customer who signs in a new field, or draws in their box, has not changed the agreement; one whose widget or
annotation lies over the text of the agreement outside that box may have hidden or replaced words. The text's
positions come from pypdf's text extraction (the origin of every shown string, in default user space).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PdfReader
from pypdf.errors import PyPdfError

Rect = tuple[float, float, float, float]
TOLERANCE = 2.0
"""Points a rectangle may stick out of the prepared box and still count as inside it."""


def rect_of(value: object) -> Rect | None:
    """A normalised (x0, y0, x1, y1) from a PDF /Rect array, or ``None``."""
    try:
        x0, y0, x1, y1 = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def inside(inner: Rect, outer: Rect) -> bool:
    """Whether ``inner`` lies within ``outer`` (with :data:`TOLERANCE`)."""
    return (
        inner[0] >= outer[0] - TOLERANCE
        and inner[1] >= outer[1] - TOLERANCE
        and inner[2] <= outer[2] + TOLERANCE
        and inner[3] <= outer[3] + TOLERANCE
    )


def text_under(data: bytes | bytearray, page_number: int, rect: Rect, outside: Sequence[Rect] = ()) -> bool:
    """Whether any text of page ``page_number`` (1-based) starts inside ``rect`` and outside every ``outside`` box.

    The page is read as the first revision that carries it would show it: only text matters, not annotations.
    """
    found: list[tuple[float, float]] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], *_args: object) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((x, y))

    try:
        page = PdfReader(io.BytesIO(bytes(data))).pages[page_number - 1]
        page.extract_text(visitor_text=visit)
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError):
        return True  # fails closed: a page whose text cannot be located counts as covered
    for x, y in found:
        point = (x, y, x, y)
        if inside(point, rect) and not any(inside(point, box) for box in outside):
            return True
    return False


__all__ = ["Rect", "inside", "rect_of", "text_under"]
