"""XMP compared as what it says: the RDF graph, read with a real RDF/XML parser (rdflib), not the bytes.

Tools serialise the same metadata very differently: iText writes simple properties as attributes (also on
``rdf:li``), pyHanko and Acrobat re-serialise the whole packet, several ``rdf:Description`` elements may be merged
or split. rdflib reads all of those forms into the same graph, so a changed title cannot hide in any of them, and
two packets that say the same thing compare equal (isomorphic graphs, blank nodes included).

The packet is first read with :mod:`defusedxml` (no DTD, no entities, no external references: an XML bomb or an
entity that spells a different title is refused, not expanded); only its ``rdf:RDF`` element goes to rdflib. Why
rdflib and not our own reading: RDF/XML has many equivalent forms (property attributes, ``rdf:parseType``,
``rdf:li`` numbering, nested descriptions) and a maintained parser knows them all.

After signing, only these may change: :data:`VOLATILE_PROPERTIES` (modify and metadata dates, producer, instance
id); a document id may be added (:data:`ADDABLE_PROPERTIES`); and a packet may be added where there was none if it
says nothing else.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import rdflib
from defusedxml import ElementTree as SafeET
from rdflib.compare import isomorphic
from rdflib.term import BNode, URIRef

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP = "http://ns.adobe.com/xap/1.0/"
XMP_MM = "http://ns.adobe.com/xap/1.0/mm/"
PDF = "http://ns.adobe.com/pdf/1.3/"
DOCUMENT = URIRef("urn:dpa:xmp:document")

VOLATILE_PROPERTIES = frozenset(
    {URIRef(XMP + "ModifyDate"), URIRef(XMP + "MetadataDate"), URIRef(PDF + "Producer"), URIRef(XMP_MM + "InstanceID")}
)
"""Properties a signing tool may rewrite."""
ADDABLE_PROPERTIES = frozenset({URIRef(XMP_MM + "DocumentID")})
"""Properties a signing tool may add where they were missing (never change)."""
MAX_XMP_BYTES = 4 * 1024 * 1024


class XmpError(ValueError):
    """An XMP packet that cannot be read safely (malformed, a DTD or entities, not RDF)."""


def xmp_graph(data: bytes) -> rdflib.Graph:
    """The RDF graph of an XMP packet, with every top-level subject taken as the document itself."""
    if len(data) > MAX_XMP_BYTES:
        raise XmpError("the XMP packet is too large")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception as exc:  # defusedxml's refusals and expat's syntax errors alike
        raise XmpError(f"the XMP packet cannot be read safely ({type(exc).__name__})") from None
    rdf = root if root.tag == f"{{{RDF_NS}}}RDF" else root.find(f".//{{{RDF_NS}}}RDF")
    if rdf is None:
        raise XmpError("the XMP packet holds no RDF")
    graph = rdflib.Graph()
    try:
        graph.parse(data=ET.tostring(rdf), format="xml", publicID=str(DOCUMENT))
    except Exception as exc:  # rdflib's parser errors are not a public hierarchy
        raise XmpError(f"the XMP packet is not valid RDF ({type(exc).__name__})") from None
    normal = rdflib.Graph()
    for subject, predicate, obj in graph:
        # XMP's simple values: a URI written as rdf:resource and the same text as a literal say the same thing
        value = rdflib.Literal(str(obj)) if isinstance(obj, URIRef) else obj
        normal.add((subject if isinstance(subject, BNode) else DOCUMENT, predicate, value))
    return normal


def _without(graph: rdflib.Graph, predicates: frozenset[URIRef]) -> rdflib.Graph:
    kept = rdflib.Graph()
    for triple in graph:
        if not (triple[0] == DOCUMENT and triple[1] in predicates):
            kept.add(triple)
    return kept


def xmp_change(old: bytes | None, new: bytes | None) -> str | None:
    """Why the change from ``old`` to ``new`` XMP is not allowed after a signature, or ``None`` when it is."""
    if new is None:
        return "the XMP metadata was removed after signing" if old is not None else None
    try:
        new_graph = xmp_graph(new)
        old_graph = xmp_graph(old) if old is not None else rdflib.Graph()
    except XmpError as exc:
        return f"the XMP metadata after signing cannot be compared: {exc}"
    added = {p for p in ADDABLE_PROPERTIES if (DOCUMENT, p, None) not in old_graph}
    allowed = VOLATILE_PROPERTIES | added
    if isomorphic(_without(old_graph, allowed), _without(new_graph, allowed)):
        return None
    if old is None:
        return "an XMP packet was added after signing that says more than bookkeeping (dates, producer, ids)"
    return "the XMP metadata (title, customer id, PDF/A identification) was changed after signing"


__all__ = ["XmpError", "xmp_change", "xmp_graph"]
