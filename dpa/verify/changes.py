"""The difference policy behind ``dpa verify``: what may change in a PDF after a signature (DESIGN.md §6).

pyHanko's :data:`~pyhanko.sign.diff_analysis.DEFAULT_DIFF_POLICY` accepts changed values of any form field, new
signature fields (visible ones after approval signatures), any change of the document information dictionary and
any well-formed XMP. Legal must not accept those: after a signature only these may happen —

* an existing, empty signature field is filled (the other party signs) with its appearance;
* validation data is added to the document security store (DSS);
* a document timestamp is added in a new, *invisible* signature field;
* the document information dictionary and the XMP packet change only in their bookkeeping entries
  (modification date, producer, instance id), which signing tools such as Acrobat rewrite on every save.

Everything else — new fields of any kind, changed values, widget flags, annotations, page content, other catalog
entries — is left unexplained and therefore rejected by :class:`~pyhanko.sign.diff_analysis.StandardDiffPolicy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DSSCompareRule,
    FormUpdatingRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
    WhitelistRule,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.commons import safe_whitelist
from pyhanko.sign.diff_analysis.form_rules_api import FieldComparisonContext, FormUpdate
from pyhanko.sign.diff_analysis.rules.form_field_rules import is_field_visible
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate

VOLATILE_INFO_KEYS = frozenset({"/ModDate", "/Producer"})
"""Entries of ``/Info`` that a signing tool may rewrite; title, customer id, template version etc. may not change."""

VOLATILE_XMP_PROPERTIES = frozenset(
    {
        "{http://ns.adobe.com/xap/1.0/}ModifyDate",
        "{http://ns.adobe.com/xap/1.0/}MetadataDate",
        "{http://ns.adobe.com/pdf/1.3/}Producer",
        "{http://ns.adobe.com/xap/1.0/mm/}InstanceID",
    }
)
"""XMP properties a signing tool may rewrite (as elements or as attributes of ``rdf:Description``)."""


class DocTimestampFieldCreationRule(SigFieldCreationRule):
    """pyHanko's signature-field creation rule, limited to invisible fields holding a document timestamp.

    Those are what PAdES B-LTA adds; any other new field — a visible signature field, an empty one, a text field —
    is reported by name as a suspicious modification.
    """

    def __init__(self) -> None:
        super().__init__(approve_widget_bindings=True, allow_new_visible_after_certify=False)  # type: ignore[no-untyped-call]

    def apply(self, context: FieldComparisonContext) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        """Veto new fields other than invisible document-timestamp fields, then defer to pyHanko's checks."""
        for name, spec in context.field_specs.items():
            if spec.old_field_ref is not None or spec.new_field_ref is None:
                continue
            field = spec.new_field
            if spec.field_type != "/Sig":
                raise SuspiciousModification(f"a new form field '{name}' was added after signing")
            if field is None or is_field_visible(field):  # type: ignore[no-untyped-call]
                raise SuspiciousModification(f"a new visible signature field '{name}' was added after signing")
            try:
                value = field["/V"]
            except KeyError:
                value = None
            if not (isinstance(value, generic.DictionaryObject) and value.get("/Type") == "/DocTimeStamp"):
                raise SuspiciousModification(
                    f"a new signature field '{name}' was added after signing (only document timestamps may add fields)"
                )
        yield from super().apply(context)


class StrictDocInfoRule(WhitelistRule):
    """``/Info`` may be rewritten, but only its modification date and producer may differ."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist the new ``/Info`` when nothing but :data:`VOLATILE_INFO_KEYS` changed."""
        try:
            new_ref = new.trailer_view.get_value_as_reference("/Info", optional=True)
            old_ref = old.trailer_view.get_value_as_reference("/Info", optional=True)
        except misc.IndirectObjectExpected:
            raise SuspiciousModification("the document information dictionary is not an indirect object") from None
        if new_ref is None:
            if old_ref is not None:
                raise SuspiciousModification(
                    "the document information (title, customer id, template version) was removed after signing"
                )
            return
        # dereference in each revision: the trailer's references resolve to the newest object otherwise
        old_info = old(old_ref) if old_ref is not None else generic.DictionaryObject()
        new_info = new(new_ref)
        if not isinstance(new_info, generic.DictionaryObject) or isinstance(new_info, generic.StreamObject):
            raise SuspiciousModification("the document information dictionary was replaced by something else")
        if not isinstance(old_info, generic.DictionaryObject):  # pragma: no cover - the signed revision was read
            raise misc.PdfReadError("the signed revision's document information is not a dictionary")
        keys = (set(old_info.keys()) | set(new_info.keys())) - VOLATILE_INFO_KEYS
        changed = sorted(k for k in keys if _raw(old_info, k) != _raw(new_info, k))
        if changed:
            raise SuspiciousModification(
                f"the document information entries {', '.join(changed)} were changed after signing"
            )
        yield from map(ReferenceUpdate, safe_whitelist(old, old_ref, new_ref))


class StrictMetadataRule(MetadataUpdateRule):
    """pyHanko's XMP rule (well-formed XMP only), plus: only :data:`VOLATILE_XMP_PROPERTIES` may differ."""

    def __init__(self) -> None:
        super().__init__(check_xml_syntax=True, always_refuse_stream_override=False)  # type: ignore[no-untyped-call]

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist an XMP update whose content, bookkeeping properties aside, is unchanged."""
        updates = list(super().apply(old, new))
        if not updates:
            return
        old_xmp = _xmp_bytes(old)
        new_xmp = _xmp_bytes(new)
        if old_xmp != new_xmp and _normalised_xmp(old_xmp) != _normalised_xmp(new_xmp):
            raise SuspiciousModification("the XMP metadata (title, PDF/A identification) was changed after signing")
        yield from updates


def _raw(dictionary: generic.DictionaryObject, key: str) -> object:
    try:
        return dictionary.raw_get(key)
    except KeyError:
        return None


def _xmp_bytes(revision: HistoricalResolver) -> bytes | None:
    try:
        ref = revision.root.get_value_as_reference("/Metadata")
    except (KeyError, misc.IndirectObjectExpected):
        return None
    stream = revision(ref)
    if not isinstance(stream, generic.StreamObject):
        return None
    data: bytes = stream.read_data(DecodePurpose.XMP_METADATA)
    return data


RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"


def _normalised_xmp(data: bytes | None) -> tuple[tuple[str, str], ...] | bytes | None:
    """What the XMP packet says, independent of how it is written: sorted (property, value) pairs.

    Tools serialise the same RDF very differently (pyHanko turns simple properties into attributes, Acrobat adds
    padding and reorders), so the packets are compared by their facts: each simple value under its property's
    expanded name — element text, ``rdf:Description`` attribute, ``rdf:resource``, or an ``rdf:li`` of an
    Alt/Seq/Bag — without :data:`VOLATILE_XMP_PROPERTIES`. Unparsable XMP is compared byte for byte.
    """
    if data is None:
        return None
    try:
        from lxml import etree
    except ImportError:  # pragma: no cover - lxml comes with pyHanko
        return data
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        return data
    facts: list[tuple[str, str]] = []

    def owner(element: Any) -> str:
        """The nearest enclosing property (an element outside the RDF namespace)."""
        node = element
        while node is not None and isinstance(node.tag, str) and node.tag.startswith(RDF):
            node = node.getparent()
        return str(node.tag) if node is not None and isinstance(node.tag, str) else ""

    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if name == f"{RDF}resource":
                facts.append((owner(element), value))
            elif not name.startswith((RDF, XML_NS)) and element.tag == f"{RDF}Description":
                facts.append((name, value))
        text = (element.text or "").strip()
        if text and len(element) == 0:
            facts.append((owner(element), text))
    return tuple(sorted(f for f in facts if f[0] not in VOLATILE_XMP_PROPERTIES and f[0]))


def strict_diff_policy() -> StandardDiffPolicy:
    """The policy of DESIGN.md §6 (see the module docstring)."""
    lta = ModificationLevel.LTA_UPDATES
    return StandardDiffPolicy(
        global_rules=[
            CatalogModificationRule(),  # type: ignore[no-untyped-call]
            StrictDocInfoRule().as_qualified(lta),
            XrefStreamRule().as_qualified(lta),
            ObjectStreamRule().as_qualified(lta),
            DSSCompareRule().as_qualified(lta),
            StrictMetadataRule().as_qualified(lta),
        ],
        form_rule=FormUpdatingRule(field_rules=[DocTimestampFieldCreationRule(), SigFieldModificationRule()]),
        reject_object_freeing=True,
        ignore_orphaned_objects=True,
        ignore_identical_objects=True,
    )


STRICT_DIFF_POLICY = strict_diff_policy()


def describe(exc: BaseException) -> str:
    """A one-sentence, single-line version of a pyHanko SuspiciousModification message."""
    text = " ".join(str(exc).split())
    return text[:400] + ("…" if len(text) > 400 else "")
