"""Where a content stream can paint: a conservative bounding box, or ``None`` when it cannot be bounded.

Used for a drawing that a customer's tool merged ("flattened") into a page's content: legal must know whether it
stays inside the customer's box. The bound is computed from what the operators say, never from rendering:

* paths by their points under the current transformation matrix (a Bézier curve lies within its control points),
  strokes widened by the line width;
* a form XObject by its /BBox (a form is clipped to it), an image by the unit square, both under the matrix;
* text and shadings by the current clip only: without a clip they cannot be bounded;
* a clip (``W``/``W*``) limits everything after it until the ``Q`` that ends it.

Anything the analysis does not know (an unknown operator, an extended graphics state that may change the line width,
a ``Q`` without its ``q``, too many operators) makes the result ``None``: fails closed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pypdf.errors import PyPdfError
from pypdf.generic import ContentStream, DecodedStreamObject

from dpa.verify.layout import Rect

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
MAX_OPERATIONS = 50_000

PATH_OPS = frozenset({b"m", b"l", b"c", b"v", b"y", b"re", b"h"})
STROKE_OPS = frozenset({b"S", b"s", b"B", b"B*", b"b", b"b*"})
FILL_OPS = frozenset({b"f", b"F", b"f*"})
TEXT_SHOWING = frozenset({b"Tj", b"TJ", b"'", b'"'})
NEUTRAL_OPS = frozenset(
    {b"g", b"G", b"rg", b"RG", b"k", b"K", b"cs", b"CS", b"sc", b"SC", b"scn", b"SCN", b"ri", b"i", b"J", b"j"}
    | {b"M", b"d", b"BMC", b"BDC", b"EMC", b"MP", b"DP", b"BT", b"ET", b"Tf", b"Td", b"TD", b"Tm", b"T*", b"Tc"}
    | {b"Tw", b"Tz", b"TL", b"Ts", b"Tr"}
)
"""Operators that paint nothing and change nothing that widens a bound (colours, dashes, marked content, text state)."""

XObjectBox = Callable[[str], tuple[Rect, Matrix] | None]
"""Looks up an XObject by its resource name: (its box, its /Matrix), or ``None`` for one that cannot be bounded."""


@dataclass(frozen=True)
class _Graphics:
    ctm: Matrix = IDENTITY
    clip: Rect | None = None
    line_width: float = 1.0
    known: bool = True
    """False for the state earlier content left behind: nothing painted in it can be bounded."""


class Unbounded(Exception):
    """The content paints somewhere the analysis cannot bound."""


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """``m`` × ``n`` (PDF's row-vector convention: apply ``m`` first, then ``n``)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


def transformed(rect: Rect, m: Matrix) -> Rect:
    """The bounding box of ``rect`` under ``m``."""
    points = [_apply(m, x, y) for x in (rect[0], rect[2]) for y in (rect[1], rect[3])]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _union(a: Rect | None, b: Rect) -> Rect:
    return b if a is None else (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _intersect(rect: Rect, clip: Rect | None) -> Rect | None:
    if clip is None:
        return rect
    x0, y0, x1, y1 = max(rect[0], clip[0]), max(rect[1], clip[1]), min(rect[2], clip[2]), min(rect[3], clip[3])
    return (x0, y0, x1, y1) if x0 <= x1 and y0 <= y1 else None


def _numbers(operands: Sequence[object], count: int) -> list[float]:
    if len(operands) != count:
        raise Unbounded("wrong number of operands")
    try:
        values = [float(v) for v in operands]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Unbounded("operands are not numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise Unbounded("operands are not finite")
    return values


class _Painter:
    """Walks the operators, keeping the graphics state and the union of what is painted."""

    def __init__(self, depth: int, xobject_box: XObjectBox) -> None:
        self.state = _Graphics(known=depth == 0)
        self.stack: list[_Graphics] = [_Graphics()] * depth
        self.path: Rect | None = None
        self.clip_pending = False
        self.painted: Rect | None = None
        self.xobject_box = xobject_box

    def paint(self, rect: Rect | None) -> None:
        if not self.state.known:
            raise Unbounded("paints in the state earlier content left behind")
        if rect is None:
            if self.state.clip is None:
                raise Unbounded("paints without a bound")
            rect = self.state.clip
        shown = _intersect(rect, self.state.clip)
        if shown is not None:
            self.painted = _union(self.painted, shown)

    def point(self, x: float, y: float) -> None:
        px, py = _apply(self.state.ctm, x, y)
        self.path = _union(self.path, (px, py, px, py))

    def end_path(self, painted: Rect | None) -> None:
        if painted is not None:
            self.paint(painted)
        if self.clip_pending and self.path is not None:
            self.state = replace(self.state, clip=_intersect(self.path, self.state.clip) or (0.0, 0.0, 0.0, 0.0))
        self.path, self.clip_pending = None, False

    def stroke_bound(self) -> Rect | None:
        if self.path is None:
            return None
        a, b, c, d = self.state.ctm[:4]
        half = self.state.line_width * max(abs(a) + abs(c), abs(b) + abs(d), 1e-9) / 2 + 1.0  # joins and caps
        x0, y0, x1, y1 = self.path
        return (x0 - half, y0 - half, x1 + half, y1 + half)

    def operate(self, operands: Sequence[object], op: bytes) -> None:  # noqa: C901 - one branch per operator family
        if op in PATH_OPS:
            self._path(operands, op)
        elif op in STROKE_OPS:
            self.end_path(self.stroke_bound())
        elif op in FILL_OPS:
            self.end_path(self.path)
        elif op == b"n":
            self.end_path(None)
        elif op in (b"W", b"W*"):
            self.clip_pending = True
        elif op == b"q":
            self.stack.append(self.state)
        elif op == b"Q":
            if not self.stack:
                raise Unbounded("Q without q")
            self.state = self.stack.pop()
        elif op == b"cm":
            m = _numbers(operands, 6)
            self.state = replace(self.state, ctm=_multiply((m[0], m[1], m[2], m[3], m[4], m[5]), self.state.ctm))
        elif op == b"w":
            self.state = replace(self.state, line_width=abs(_numbers(operands, 1)[0]))
        elif op == b"gs":
            self.state = replace(self.state, line_width=math.inf)  # an ExtGState may set /LW: strokes need a clip
        elif op == b"Do":
            self._xobject(operands)
        elif op == b"INLINE IMAGE":
            self.paint(transformed((0.0, 0.0, 1.0, 1.0), self.state.ctm))
        elif op in TEXT_SHOWING or op == b"sh":
            self.paint(None)
        elif op not in NEUTRAL_OPS:
            raise Unbounded(f"unknown operator {op!r}")

    def _path(self, operands: Sequence[object], op: bytes) -> None:
        if op == b"h":
            return
        if op == b"re":
            x, y, w, h = _numbers(operands, 4)
            for px, py in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)):
                self.point(px, py)
            return
        count = {b"m": 2, b"l": 2, b"c": 6, b"v": 4, b"y": 4}[op]
        values = _numbers(operands, count)
        for i in range(0, count, 2):
            self.point(values[i], values[i + 1])

    def _xobject(self, operands: Sequence[object]) -> None:
        if len(operands) != 1:
            raise Unbounded("Do needs one name")
        found = self.xobject_box(str(operands[0]))
        if found is None:
            raise Unbounded("an XObject that cannot be bounded")
        box, matrix = found
        self.paint(transformed(box, _multiply(matrix, self.state.ctm)))


@dataclass(frozen=True)
class Bounds:
    """What :func:`content_bounds` found."""

    bounded: bool
    painted: Rect | None = None
    """The box around everything painted (``None``: nothing, or not bounded)."""


def content_bounds(data: bytes, xobject_box: XObjectBox, *, depth: int = 0) -> Bounds:
    """Where ``data`` (a decoded content stream, starting from the default graphics state) can paint.

    ``depth``: how many ``q`` a wrapper opened before the earlier content, for this stream to close (each
    ``Q`` of them restores the default graphics state); until the first of them, the state earlier content left
    behind is unknown and nothing painted in it can be bounded. With ``depth`` 0 the stream starts from the default
    state (the caller checks that earlier content leaves it: :func:`leaves_default_state`).
    """
    stream = DecodedStreamObject()
    stream.set_data(data)
    painter = _Painter(depth, xobject_box)
    try:
        operations = ContentStream(stream, None).operations
        if len(operations) > MAX_OPERATIONS:
            return Bounds(False)
        for operands, op in operations:
            painter.operate(operands if isinstance(operands, list) else [], op)
    except (Unbounded, PyPdfError, ValueError, TypeError, KeyError, IndexError):
        return Bounds(False)
    return Bounds(True, painter.painted)


def only_saves(data: bytes) -> int | None:
    """How many ``q`` a stream made only of ``q`` operators opens (``None``: it does anything else)."""
    stream = DecodedStreamObject()
    stream.set_data(data)
    try:
        operations = ContentStream(stream, None).operations
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError):
        return None
    if any(op != b"q" for _operands, op in operations):
        return None
    return len(operations)


def content_state(data: bytes) -> tuple[bool, bool]:
    """(balanced, clean) of a content stream: every ``q`` closed and no ``Q`` too many; and, besides, no
    transformation, clip, line width or extended state set outside a ``q``…``Q`` pair — so that what follows
    starts from the default graphics state."""
    stream = DecodedStreamObject()
    stream.set_data(data)
    depth, clean = 0, True
    try:
        for _operands, op in ContentStream(stream, None).operations:
            if op == b"q":
                depth += 1
            elif op == b"Q":
                depth -= 1
                if depth < 0:
                    return False, False
            elif depth == 0 and op in (b"cm", b"W", b"W*", b"w", b"gs"):
                clean = False
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError):
        return False, False
    return depth == 0, depth == 0 and clean


__all__ = [
    "IDENTITY",
    "Bounds",
    "Matrix",
    "XObjectBox",
    "content_bounds",
    "content_state",
    "only_saves",
    "transformed",
]
