"""The words of a verdict: strings from the file made safe to show, objects described by kind and page.

Everything a report prints that came from the file — names, DNs, field names, library messages quoting the file —
goes through :func:`escape`, so that a newline or a bidi control in a certificate's subject cannot forge a line of
the report or reorder what legal reads. Messages are made deterministic (:func:`deterministic`): no set reprs in
arbitrary order, no object addresses, so that the same file gives byte-identical JSON on every run. Objects are
described in words legal can act on ("an ink annotation on page 6"), with the object number only in parentheses
after the words.

No pyHanko types are needed by :func:`escape`, so :mod:`dpa.verify.report` can use it in the parent process.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_MESSAGE = 300


def escape(text: str) -> str:
    """``text`` with control, format (bidi) and separator characters other than a space shown as ``\\uXXXX``."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if char == " " or not (category[0] in "CZ" or char in BIDI_CONTROLS):
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return "".join(out)


_ADDRESS = re.compile(r"\s+at 0x[0-9a-fA-F]+")
_SET_REPR = re.compile(r"\{((?:'[^'{}]*'|\"[^\"{}]*\")(?:,\s*(?:'[^'{}]*'|\"[^\"{}]*\"))*)\}")
_ITEM = re.compile(r"'[^']*'|\"[^\"]*\"")


def deterministic(text: str) -> str:
    """A library's message without object addresses, with the items of set reprs sorted, on one line, escaped."""
    text = _ADDRESS.sub("", text)
    text = _SET_REPR.sub(lambda m: "{" + ", ".join(sorted(_ITEM.findall(m.group(1)))) + "}", text)
    return escape(" ".join(text.split()))


def short(exc: object) -> str:
    """A one-line, deterministic, escaped version of an exception's message (at most :data:`MAX_MESSAGE`)."""
    text = deterministic(str(exc)) or type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def quoted(value: object) -> str:
    """A string from the file in single quotes, escaped (field names, titles)."""
    return f"'{escape(str(value))}'"


ANNOTATION_WORDS = {
    "/Ink": "an ink annotation (a drawing)",
    "/FreeText": "a free-text annotation (typed text)",
    "/Stamp": "a stamp annotation",
    "/Widget": "a form field's widget",
    "/Square": "a rectangle annotation",
    "/Circle": "an ellipse annotation",
    "/Text": "a note annotation",
    "/Link": "a link",
    "/FileAttachment": "a file attachment",
    "/Highlight": "a highlight annotation",
    "/Line": "a line annotation",
    "/Polygon": "a polygon annotation",
    "/PolyLine": "a polyline annotation",
}


def annotation_words(subtype: object) -> str:
    """What an annotation of ``subtype`` is, in words."""
    name = str(subtype)
    return ANNOTATION_WORDS.get(name, f"an annotation of type {escape(name.lstrip('/'))}")


def page_map(reader: Any) -> dict[tuple[int, int], int]:
    """(object number, generation) of every page and every annotation → its page number (1-based)."""
    pages: dict[tuple[int, int], int] = {}
    try:
        from pyhanko.pdf_utils import generic

        root = reader.root
        count = int(root["/Pages"]["/Count"])
        for index in range(min(count, 10_000)):
            page, page_ref = _page(reader, index)
            if page_ref is not None:
                pages[(page_ref.idnum, page_ref.generation)] = index + 1
            annots = page.get("/Annots") if page is not None else None
            annots = annots.get_object() if annots is not None else None
            if isinstance(annots, generic.ArrayObject):
                for item in annots:
                    if isinstance(item, generic.IndirectObject):
                        pages[(item.idnum, item.generation)] = index + 1
    except Exception:  # noqa: S110 - only words: a page we cannot map is described without its number
        pass
    return pages


def _page(reader: Any, index: int) -> tuple[Any, Any]:
    page, page_ref = reader.find_page_for_modification(index)[0], None
    if hasattr(page, "reference"):
        page_ref = page.reference
        page = page.get_object()
    return page, page_ref


def object_words(reader: Any, idnum: int, generation: int, pages: dict[tuple[int, int], int]) -> str:
    """A few words on what an object is and where: "an ink annotation (a drawing) on page 6 (object 57)"."""
    from pyhanko.pdf_utils import generic

    where = pages.get((idnum, generation))
    on_page = f" on page {where}" if where else ""
    number = f" (object {idnum})" if generation == 0 else f" (object {idnum} {generation})"
    try:
        obj = reader.get_object(generic.Reference(idnum, generation, reader))
    except Exception:
        return f"an object that cannot be read{number}"
    if isinstance(obj, generic.StreamObject):
        kind = obj.get("/Type") or obj.get("/Subtype")
        what = f"a {escape(str(kind).lstrip('/'))} stream" if kind else "a content stream (page drawing or text)"
        return f"{what}{number}"
    if isinstance(obj, generic.DictionaryObject):
        type_ = obj.get("/Type")
        if type_ == "/Page":
            return f"page {where}{number}" if where else f"a page{number}"
        if "/FT" in obj:
            return f"the form field {quoted(obj.get('/T', '?'))}{on_page}{number}"
        if type_ == "/Annot" or (type_ is None and "/Rect" in obj and "/Subtype" in obj):
            return f"{annotation_words(obj.get('/Subtype'))}{on_page}{number}"
        if type_ == "/Catalog":
            return f"the document catalog{number}"
        if type_:
            return f"a {escape(str(type_).lstrip('/'))} dictionary{number}"
        return f"a dictionary{number}"
    return f"a {type(obj).__name__.removesuffix('Object').lower()}{number}"


__all__ = [
    "annotation_words",
    "deterministic",
    "escape",
    "object_words",
    "page_map",
    "quoted",
    "short",
]
