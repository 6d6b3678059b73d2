"""A drawing merged into the page ("flattened") instead of a digital signature: Fill & Sign's other form.

Some tools flatten what the customer drew or typed: instead of an annotation they append a content stream to the
page (often wrapped as ``[q] + old content + [Q … drawing]``) that paints a form XObject or a path. In an agreement
dpa made, such an update is recognised and judged by where it can paint (:mod:`dpa.verify.content_bounds`):

* the page's content streams are all still there, in order, unchanged; only new streams are added before (doing
  nothing but ``q``) and after them; the page's other entries are unchanged, its resources only gain new XObjects;
* the new streams start from the default graphics state: the old content leaves it, or it is wrapped in ``q``
  streams and balanced, so that the new streams' ``Q`` restores it (nothing they paint before is bounded);
* everything the new streams can paint lies inside the customer's prepared box, on its page.

Then :class:`FlattenedDrawingRule` lets the update through and the engine says what happened in words
(INDETERMINATE: the controller has not signed). A drawing that reaches outside the box, or cannot be bounded, is
refused: TOTAL_FAILED. Any other change of page content stays unexplained (refused by the policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification, WhitelistRule
from pyhanko.sign.diff_analysis.commons import compare_dicts
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate

from dpa.verify.annotations import prepared_box
from dpa.verify.content_bounds import (
    IDENTITY,
    Bounds,
    Matrix,
    XObjectBox,
    content_bounds,
    content_state,
    only_saves,
)
from dpa.verify.layout import Rect, inside, rect_of

MAX_PAGES = 2000
MAX_CONTENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FlattenedDrawing:
    """Content streams appended to one page, and where they can paint."""

    page: int
    streams: tuple[generic.Reference, ...]
    bounds: Bounds
    updates: tuple[generic.Reference, ...]
    """Everything the update wrote for it (page, content streams, resources, XObjects), for the policy."""

    def words(self) -> str:
        """ "a drawing merged into the page's content (content stream object 57)"."""
        numbers = ", ".join(str(ref.idnum) for ref in self.streams)
        noun = "object" if len(self.streams) == 1 else "objects"
        return f"a drawing merged into the page's content (content stream {noun} {numbers})"

    def inside(self, box: tuple[int | None, Rect | None]) -> bool:
        """Whether everything it paints lies in the prepared box (on the box's page)."""
        page, rect = box
        if not self.bounds.bounded or rect is None:
            return False
        painted = self.bounds.painted
        return painted is None or (page == self.page and inside(painted, rect))


def _deref(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value  # type: ignore[no-untyped-call]


def _content_refs(page: generic.DictionaryObject) -> list[generic.Reference] | None:
    raw = page.raw_get("/Contents") if "/Contents" in page else None
    if isinstance(raw, generic.IndirectObject):
        target = raw.get_object()  # type: ignore[no-untyped-call]
        if isinstance(target, generic.StreamObject):
            return [raw.reference]
        raw = target
    if not isinstance(raw, generic.ArrayObject):
        return None
    refs = [item.reference for item in list.__iter__(raw) if isinstance(item, generic.IndirectObject)]
    return refs if len(refs) == len(raw) else None


def _data(resolver: HistoricalResolver, refs: Iterable[generic.Reference]) -> bytes:
    parts = []
    for ref in refs:
        stream = resolver(ref)
        if not isinstance(stream, generic.StreamObject):
            raise misc.PdfReadError("a content entry is not a stream")
        parts.append(stream.read_data(DecodePurpose.GENERIC))
        if sum(map(len, parts)) > MAX_CONTENT_BYTES:
            raise misc.PdfReadError("page content too large to analyse")
    return b"\n".join(parts)


def _pages(resolver: HistoricalResolver) -> Iterator[tuple[int, generic.IndirectObject]]:
    count = int(resolver.root["/Pages"]["/Count"])
    for index in range(min(count, MAX_PAGES)):
        page_ref, _resources = resolver.find_page_for_modification(index)  # type: ignore[no-untyped-call]
        yield index + 1, page_ref


def _xobject_box(xobjects: object) -> XObjectBox:
    def box(name: str) -> tuple[Rect, Matrix] | None:
        if not isinstance(xobjects, generic.DictionaryObject) or name not in xobjects:
            return None
        xobject = _deref(xobjects.raw_get(name))
        if not isinstance(xobject, generic.StreamObject):
            return None
        if xobject.get("/Subtype") == "/Image":
            return (0.0, 0.0, 1.0, 1.0), IDENTITY
        rect = rect_of(xobject.get("/BBox")) if xobject.get("/Subtype") == "/Form" else None
        if rect is None:
            return None
        raw = xobject.get("/Matrix")
        try:
            matrix = tuple(float(v) for v in raw) if raw is not None else IDENTITY
        except (TypeError, ValueError):
            return None
        return (rect, matrix) if len(matrix) == 6 else None

    return box


def _resources_updates(
    old: HistoricalResolver, new: HistoricalResolver, old_page: generic.DictionaryObject, new_page: object
) -> tuple[object, list[generic.Reference]] | None:
    """The new page's XObjects and what the update wrote for them, when the resources only gained XObjects."""
    assert isinstance(new_page, generic.DictionaryObject)
    old_res = _deref(old_page.raw_get("/Resources")) if "/Resources" in old_page else None
    new_res = _deref(new_page.raw_get("/Resources")) if "/Resources" in new_page else None
    if not isinstance(old_res, generic.DictionaryObject) or not isinstance(new_res, generic.DictionaryObject):
        return None
    compare_dicts(old_res, new_res, frozenset({"/XObject"}))
    old_x, new_x = _deref(old_res.get("/XObject")), _deref(new_res.get("/XObject"))
    old_x = old_x if isinstance(old_x, generic.DictionaryObject) else generic.DictionaryObject()  # type: ignore[no-untyped-call]
    if not isinstance(new_x, generic.DictionaryObject):
        return (new_x, []) if not old_x else None
    updates: list[generic.Reference] = []
    for name in new_x:
        raw = new_x.raw_get(name)
        if name in old_x and old_x.raw_get(name) == raw:
            continue
        if name in old_x or not isinstance(raw, generic.IndirectObject) or not old.is_ref_unassignable(raw.reference):
            return None
        updates.append(raw.reference)
        updates.extend(new.collect_dependencies(raw.get_object(), since_revision=old.revision + 1))  # type: ignore[no-untyped-call]
    for holder in (new_page.raw_get("/Resources"), new_res.raw_get("/XObject") if "/XObject" in new_res else None):
        if isinstance(holder, generic.IndirectObject):
            updates.append(holder.reference)
    return new_x, updates


def _flattened(
    old: HistoricalResolver, new: HistoricalResolver, number: int, old_ref: generic.IndirectObject, new_ref: object
) -> FlattenedDrawing | None:
    old_page, new_page = _deref(old_ref), _deref(new_ref)
    if not isinstance(old_page, generic.DictionaryObject) or not isinstance(new_page, generic.DictionaryObject):
        return None
    before, after = _content_refs(old_page), _content_refs(new_page)
    if before is None or after is None or before == after or len(after) <= len(before):
        return None
    starts = [i for i in range(len(after) - len(before) + 1) if after[i : i + len(before)] == before]
    if not starts:
        return None
    prefix, suffix = after[: starts[0]], after[starts[0] + len(before) :]
    if not suffix or not all(old.is_ref_unassignable(ref) for ref in prefix + suffix):
        return None
    try:
        compare_dicts(old_page, new_page, frozenset({"/Contents", "/Resources"}))
    except SuspiciousModification:
        return None
    resources = _resources_updates(old, new, old_page, new_page)
    depths = [only_saves(_data(new, [ref])) for ref in prefix]
    if resources is None or None in depths:
        return None
    depth = sum(d or 0 for d in depths)
    balanced, clean = content_state(_data(old, before))
    if not (clean if depth == 0 else balanced):
        return None
    xobjects, updates = resources
    bounds = content_bounds(_data(new, suffix), _xobject_box(xobjects), depth=depth)
    holder = new_page.raw_get("/Contents")
    written = [new_ref.reference] if isinstance(new_ref, generic.IndirectObject) else []
    written += [holder.reference] if isinstance(holder, generic.IndirectObject) else []
    return FlattenedDrawing(number, tuple(suffix), bounds, tuple(written + prefix + suffix + updates))


def flattened_drawings(old: HistoricalResolver, new: HistoricalResolver) -> list[FlattenedDrawing]:
    """The pages of ``new`` whose content is ``old``'s with drawing streams appended (see the module docstring)."""
    found = []
    for (number, old_ref), (_n, new_ref) in zip(_pages(old), _pages(new), strict=False):
        drawing = _flattened(old, new, number, old_ref, new_ref)
        if drawing is not None:
            found.append(drawing)
    return found


class FlattenedDrawingRule(WhitelistRule):
    """Let a drawing merged into the page through when it stays in the customer's box; refuse it when it does not."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist what a flattened drawing inside the prepared box wrote; raise for one outside it."""
        try:
            drawings = flattened_drawings(old, new)
            box = prepared_box(old)
        except (misc.PdfError, KeyError, TypeError, ValueError):
            return
        for drawing in drawings:
            if not drawing.inside(box):
                where = "cannot be located" if not drawing.bounds.bounded else "reaches outside the customer's box"
                raise SuspiciousModification(
                    f"{drawing.words()} on page {drawing.page} {where}: the page shows something else than what "
                    "was signed"
                )
            for ref in drawing.updates:
                yield ReferenceUpdate(ref)


LEVEL = ModificationLevel.ANNOTATIONS
"""A drawing in the box is judged like an annotation there: beyond form filling, named by the engine."""

__all__ = ["LEVEL", "FlattenedDrawing", "FlattenedDrawingRule", "flattened_drawings"]
