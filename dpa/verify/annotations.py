"""What a customer adds instead of signing in the prepared field: annotations ("Fill & Sign") or a new field.

In an agreement dpa made, a markup annotation added after ipcall.me's signature is not blamed on that signature:

* inside the customer's prepared box it is what Acrobat's "Fill & Sign" does — the customer drew (or typed) a
  signature instead of signing digitally. The difference policy lets it through (:class:`MarkupAnnotationRule`)
  and the engine says so in words: INDETERMINATE, the controller has not signed, ipcall.me's signature is intact;
* anywhere it covers the agreement's text outside that box, the rule refuses it: TOTAL_FAILED.

Links, widgets of new fields, attachments, movies and the like are never explained here. A signature in a new
field is allowed by the policy for dpa's agreements and named here (:func:`new_field_words`), or refused when its
widget covers the agreement's text outside the prepared box (:func:`new_field_over_text`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import SuspiciousModification, WhitelistRule
from pyhanko.sign.diff_analysis.commons import compare_dicts
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate
from pyhanko.sign.fields import enumerate_sig_fields

from dpa.roles import CONTROLLER
from dpa.verify.explain import annotation_words, quoted
from dpa.verify.findings import DocumentContext, SigState
from dpa.verify.layout import Rect, inside, rect_of, text_under

MARKUP_SUBTYPES = frozenset(
    {"/Ink", "/FreeText", "/Stamp", "/Square", "/Circle", "/Line", "/Polygon", "/PolyLine", "/Text", "/Highlight"}
)
MAX_PAGES = 2000


@dataclass(frozen=True)
class AddedAnnotation:
    """A markup annotation a later revision put on a page."""

    page: int
    ref: tuple[int, int]
    subtype: str
    rect: Rect | None

    def words(self) -> str:
        """ "an ink annotation (a drawing) (object 57)"."""
        return f"{annotation_words(self.subtype)} (object {self.ref[0]})"


def _deref(obj: Any) -> Any:
    return obj.get_object()


def _pages(resolver: Any) -> Iterator[tuple[int, generic.IndirectObject]]:
    count = int(resolver.root["/Pages"]["/Count"])
    for index in range(min(count, MAX_PAGES)):
        page_ref, _resources = resolver.find_page_for_modification(index)
        yield index + 1, page_ref


def _annots(page: generic.DictionaryObject) -> list[generic.IndirectObject]:
    value = page.get("/Annots")
    if not isinstance(value, generic.ArrayObject):
        return []
    return [item for item in list.__iter__(value) if isinstance(item, generic.IndirectObject)]


def added_annotations(old: Any, new: Any) -> list[AddedAnnotation]:
    """The annotations on the pages of ``new`` that ``old`` did not have (widgets excluded)."""
    found: list[AddedAnnotation] = []
    for (number, old_ref), (_n, new_ref) in zip(_pages(old), _pages(new), strict=False):
        before = {(r.idnum, r.generation) for r in _annots(_deref(old_ref))}
        for ref in _annots(_deref(new_ref)):
            key = (ref.idnum, ref.generation)
            if key in before:
                continue
            annot = _deref(ref)
            subtype = str(annot.get("/Subtype")) if isinstance(annot, generic.DictionaryObject) else "?"
            if subtype != "/Widget":
                found.append(AddedAnnotation(number, key, subtype, rect_of(annot.get("/Rect"))))
    return found


def prepared_box(resolver: Any) -> tuple[int | None, Rect | None]:
    """The customer's prepared field: (its page, its rectangle) in ``resolver``'s revision."""
    pages = {(ref.idnum, ref.generation): number for number, ref in _pages(resolver)}
    for name, _value, ref in enumerate_sig_fields(resolver, filled_status=None):
        if str(name) != CONTROLLER.field:
            continue
        field = _deref(ref)
        kids = field.get("/Kids")
        widget = _deref(kids[0]) if isinstance(kids, generic.ArrayObject) and kids else field
        page_ref = widget.raw_get("/P") if "/P" in widget else None
        page = pages.get((page_ref.idnum, page_ref.generation)) if page_ref is not None else None
        return page, rect_of(widget.get("/Rect"))
    return None, None


def in_prepared_box(annotation: AddedAnnotation, box: tuple[int | None, Rect | None]) -> bool:
    """Whether the annotation lies within the customer's prepared box, on its page."""
    page, rect = box
    return (
        annotation.rect is not None and rect is not None and annotation.page == page and inside(annotation.rect, rect)
    )


def _over_text(data: bytes, annotation: AddedAnnotation, box: Rect | None) -> bool:
    if annotation.rect is None or not data:
        return True  # fails closed: where it is cannot be told
    return text_under(data, annotation.page, annotation.rect, [box] if box else [])


class MarkupAnnotationRule(WhitelistRule):
    """Let markup annotations through that lie in the customer's box or over no text; refuse those over the text."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist each tolerated new annotation, its dependencies and the page's /Annots."""
        try:
            added = added_annotations(old, new)
        except (misc.PdfError, KeyError, TypeError, ValueError):
            return
        if not added:
            return
        box = prepared_box(old)
        data = new.reader.stream.getvalue() if isinstance(new.reader.stream, io.BytesIO) else b""
        for annotation in added:
            if annotation.subtype not in MARKUP_SUBTYPES:
                continue  # left unexplained: the policy names it
            if not in_prepared_box(annotation, box) and (
                annotation.rect is None
                or not data
                or text_under(data, annotation.page, annotation.rect, [box[1]] if box[1] else [])
            ):
                raise SuspiciousModification(
                    f"{annotation.words()} on page {annotation.page} covers the agreement's text outside the "
                    "customer's box"
                )
            ref = generic.Reference(annotation.ref[0], annotation.ref[1], new)
            yield ReferenceUpdate(ref)
            for dependency in new.collect_dependencies(_deref(ref), since_revision=old.revision + 1):
                yield ReferenceUpdate(dependency)
        yield from self._pages_with_new_annots(old, new, {a.page for a in added})

    @staticmethod
    def _pages_with_new_annots(old: Any, new: Any, pages: set[int]) -> Iterator[ReferenceUpdate]:
        for (number, old_ref), (_n, new_ref) in zip(_pages(old), _pages(new), strict=False):
            if number not in pages:
                continue
            compare_dicts(_deref(old_ref), _deref(new_ref), frozenset({"/Annots"}))
            yield ReferenceUpdate(new_ref.reference)
            annots = _deref(new_ref).raw_get("/Annots")
            if isinstance(annots, generic.IndirectObject):
                yield ReferenceUpdate(annots.reference)


# --- a signature in a new field instead of the prepared one -----------------------------------------------------


def new_field_words(doc: DocumentContext, state: SigState, embedded: Any) -> str:
    """What a signature in a new field of dpa's agreement means, in the customer's terms (DESIGN.md §6 table)."""
    page = _page_of(doc, embedded)
    on_page = f" on page {page}" if page else ""
    return (
        f"the customer signed in a new field {quoted(state.field)}{on_page} instead of the prepared one "
        f"({CONTROLLER.field}); ipcall.me's signature is intact; ask for a digital signature in the prepared field"
    )


def new_field_over_text(doc: DocumentContext, state: SigState, embedded: Any) -> str | None:
    """The sentence when a signature's new widget covers page text outside the prepared box, else ``None``."""
    page = _page_of(doc, embedded)
    rect = rect_of(_widget(embedded.sig_field).get("/Rect"))
    if page is None or rect is None or (rect[2] - rect[0]) * (rect[3] - rect[1]) <= 0:
        return None
    box = prepared_box(doc.reader)[1]
    if box is not None and inside(rect, box):
        return None
    if not text_under(doc.data, page, rect, [box] if box is not None else []):
        return None
    return (
        f"the customer's new signature field {quoted(state.field)} on page {page} covers the agreement's text outside "
        f"the prepared box ({CONTROLLER.field}): what it hides may differ from what was agreed"
    )


def _widget(field: Any) -> Any:
    kids = field.get("/Kids") if isinstance(field, generic.DictionaryObject) else None
    if isinstance(kids, generic.ArrayObject) and kids:
        return kids[0].get_object() if isinstance(kids[0], generic.IndirectObject) else kids[0]  # type: ignore[no-untyped-call]
    return field if isinstance(field, generic.DictionaryObject) else {}


def _prepared_box(doc: DocumentContext) -> Rect | None:
    for name, _value, ref in enumerate_sig_fields(doc.reader, filled_status=None):
        if str(name) == CONTROLLER.field:
            return rect_of(_widget(ref.get_object()).get("/Rect"))
    return None


def _page_of(doc: DocumentContext, embedded: Any) -> int | None:
    try:
        page_ref = _widget(embedded.sig_field).raw_get("/P")
        if isinstance(page_ref, generic.IndirectObject):
            return doc.pages.get((page_ref.idnum, page_ref.generation))
    except (KeyError, AttributeError, misc.PdfError):
        pass
    ref = getattr(embedded.sig_field, "container_ref", None)
    if ref is not None and hasattr(ref, "idnum"):
        return doc.pages.get((ref.idnum, ref.generation))
    return None


__all__ = [
    "MARKUP_SUBTYPES",
    "AddedAnnotation",
    "MarkupAnnotationRule",
    "added_annotations",
    "in_prepared_box",
    "new_field_over_text",
    "new_field_words",
    "prepared_box",
]
