"""Body + Annex 1 (+ optional contract in front) → one PDF/A-2b with metadata and two empty signature fields.

This is the last step that rewrites the file: everything after it (signatures, validation data) is an
incremental update. The signature fields are placed under the anchor lines of the signature page, found in the
rendered PDF's text, never at hard-coded coordinates.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast
from xml.sax.saxutils import escape

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)
from pypdf.xmp import XmpInformation

from dpa.assembly.compose import ANNEX_HEADING_PREFIX
from dpa.assembly.templates import SIGNATURE_ANCHORS, SIGNATURE_BOX_HEIGHT, SIGNATURE_BOX_WIDTH
from dpa.errors import AssemblyError
from dpa.roles import BY_FIELD, Party

# Distance between an anchor's baseline and the top of the field below it (points).
ANCHOR_GAP = 6.0
PRODUCER = "dpa (ipcall.me) with LibreOffice and pypdf"


@dataclass(frozen=True)
class AgreementMetadata:
    """What the assembled PDF records about itself, in the Info dictionary and in XMP."""

    title: str
    customer_id: str
    template_version: str
    record_sha256: str
    created: datetime


@dataclass(frozen=True)
class Anchor:
    """Where an anchor line was found: page index and baseline origin in PDF user space."""

    page: int
    x: float
    y: float


def find_anchors(reader: PdfReader) -> dict[str, Anchor]:
    """Locate each signature anchor on the signature page; raises when one is missing or occurs twice.

    By the template contract the signature page is the last page of the agreement, the one before Annex 1, so
    only that page is searched (text extraction is the costliest step of the merge: about 40 ms per page).
    """
    found: dict[str, list[Anchor]] = {field: [] for field in SIGNATURE_ANCHORS}
    index = signature_page(reader)
    for text, x, y in _text_pieces(reader.pages[index]):
        line = " ".join(text.split())
        for field, anchor in SIGNATURE_ANCHORS.items():
            if re.search(re.escape(anchor) + r"(?![A-Za-z])", line):
                found[field].append(Anchor(index, x, y))
    result = {}
    for field, anchors in found.items():
        if len(anchors) != 1:
            raise AssemblyError(
                f"the anchor '{SIGNATURE_ANCHORS[field]}' of {field} was found {len(anchors)} times on the "
                "signature page (the last page of the agreement; expected once): check the template with "
                "'dpa templates check'"
            )
        result[field] = anchors[0]
    return result


def signature_page(reader: PdfReader) -> int:
    """The index of the agreement's last page: the page before the one LibreOffice's outline gives for the
    annex's heading ("Bijlage 1…", :data:`~dpa.assembly.compose.ANNEX_HEADING_PREFIX`).

    The outline is walked from its last top-level entry backwards (the annex comes last), reading only those
    entries: pypdf's full ``outline`` costs a third of the merge.
    """
    outlines = _dictionary(reader.root_object.get("/Outlines"))
    item = _dictionary(outlines.get("/Last")) if outlines is not None else None
    while item is not None:
        if str(item.get("/Title", "")).startswith(ANNEX_HEADING_PREFIX):
            page = _destination_page(reader, item)
            if page is not None and page >= 1:
                return page - 1
        item = _dictionary(item.get("/Prev"))
    raise AssemblyError(
        f"the rendered agreement has no heading '{ANNEX_HEADING_PREFIX}…' starting Annex 1 after the signature page: "
        "check the templates with 'dpa templates check'"
    )


def _dictionary(value: object) -> DictionaryObject | None:
    """``value`` resolved, when it is a dictionary."""
    resolved = value.get_object() if isinstance(value, IndirectObject) else value
    return resolved if isinstance(resolved, DictionaryObject) else None


def _destination_page(reader: PdfReader, item: DictionaryObject) -> int | None:
    """The page index an outline entry points at (its /Dest, or the /D of its GoTo action)."""
    target = item.get("/Dest")
    action = _dictionary(item.get("/A"))
    if target is None and action is not None:
        target = action.get("/D")
    if isinstance(target, IndirectObject):
        target = target.get_object()
    if not isinstance(target, ArrayObject) or not target or not isinstance(target[0], IndirectObject):
        return None
    wanted = target[0].idnum
    for index in range(len(reader.pages) - 1, -1, -1):
        reference = reader.pages[index].indirect_reference
        if reference is not None and reference.idnum == wanted:
            return index
    return None


def _text_pieces(page: PageObject) -> list[tuple[str, float, float]]:
    """The text shown on ``page``, piece by piece, with the origin of each piece in user space."""
    pieces: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: object) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            pieces.append((text, x, y))

    page.extract_text(visitor_text=visit)
    return pieces


def _read(data: bytes, what: str) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise AssemblyError(f"the {what} PDF is encrypted; dpa cannot include it")
        _ = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise AssemblyError(f"the {what} is not a readable PDF ({exc})") from None
    return reader


def declares_pdfa(reader: PdfReader) -> bool:
    """True when the document's XMP metadata declares PDF/A (any part, conformance B or stricter)."""
    try:
        metadata = reader.xmp_metadata
    except Exception:  # pypdf raises a variety of parser errors on broken XMP
        return False
    if metadata is None:
        return False
    raw = metadata.stream.get_data().decode("utf-8", "replace")
    return re.search(r"pdfaid:part\s*(=\s*\"|>)\s*[123]", raw) is not None


def assemble_pdf(agreement: bytes, metadata: AgreementMetadata, contract: bytes | None = None) -> bytes:
    """The converted agreement (with Annex 1), after the contract if any, with the metadata and both empty
    signature fields."""
    body_reader = _read(agreement, "rendered agreement")
    anchors = find_anchors(body_reader)

    writer = PdfWriter()
    writer.pdf_header = "%PDF-1.7"  # PDF/A-2 is based on PDF 1.7
    offset = 0
    if contract is not None:
        contract_reader = _read(contract, "contract")
        if not declares_pdfa(contract_reader):
            raise AssemblyError(
                "the contract PDF is not PDF/A, so the agreement would not be either: export it as PDF/A "
                "(in LibreOffice or Word: 'archive (PDF/A)') and try again"
            )
        writer.append(contract_reader, import_outline=False)
        offset = len(contract_reader.pages)
    writer.append(body_reader, import_outline=False)
    _copy_pdfa_catalog_entries(body_reader, writer)
    _set_metadata(writer, metadata)
    for field, anchor in anchors.items():
        _add_signature_field(writer, BY_FIELD[field], offset + anchor.page, anchor)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _copy_pdfa_catalog_entries(source: PdfReader, writer: PdfWriter) -> None:
    """Keep the body's output intent (sRGB ICC profile) and language: PDF/A needs them in the catalog."""
    catalog = source.root_object
    for key in ("/OutputIntents", "/Lang"):
        if key in catalog:
            writer.root_object[NameObject(key)] = catalog[key].clone(writer)


def _set_metadata(writer: PdfWriter, metadata: AgreementMetadata) -> None:
    stamp = metadata.created.astimezone(UTC)
    pdf_date = stamp.strftime("D:%Y%m%d%H%M%S+00'00'")
    writer.add_metadata(
        {
            "/Title": metadata.title,
            "/Author": "ipcall.me",
            "/Creator": "dpa",
            "/Producer": PRODUCER,
            "/CreationDate": pdf_date,
            "/ModDate": pdf_date,
            "/DPACustomerId": metadata.customer_id,
            "/DPATemplateVersion": metadata.template_version,
            "/DPARecordSHA256": metadata.record_sha256,
        }
    )
    packet = DecodedStreamObject()
    packet.set_data(_xmp_packet(metadata, stamp.strftime("%Y-%m-%dT%H:%M:%SZ")).encode("utf-8"))
    writer.xmp_metadata = XmpInformation(packet)  # pypdf's public XMP API (it parses the packet: well-formed)
    stream = cast(StreamObject, writer.root_object["/Metadata"].get_object())  # what the setter just wrote
    stream.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})


def _xmp_packet(metadata: AgreementMetadata, iso: str) -> str:
    title = escape(metadata.title)
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>ipcall.me</rdf:li></rdf:Seq></dc:creator>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>dpa</xmp:CreatorTool>
   <xmp:CreateDate>{iso}</xmp:CreateDate>
   <xmp:ModifyDate>{iso}</xmp:ModifyDate>
   <xmp:MetadataDate>{iso}</xmp:MetadataDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dpa="https://ipcall.me/ns/dpa/1.0/">
   <dpa:customerId>{escape(metadata.customer_id)}</dpa:customerId>
   <dpa:templateVersion>{metadata.template_version}</dpa:templateVersion>
   <dpa:recordSha256>{metadata.record_sha256}</dpa:recordSha256>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
    xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
   <pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
    <pdfaSchema:schema>dpa agreement metadata</pdfaSchema:schema>
    <pdfaSchema:namespaceURI>https://ipcall.me/ns/dpa/1.0/</pdfaSchema:namespaceURI>
    <pdfaSchema:prefix>dpa</pdfaSchema:prefix>
    <pdfaSchema:property><rdf:Seq>
     {_xmp_property("customerId", "Customer id of the controller")}
     {_xmp_property("templateVersion", "SHA-256 of the template files")}
     {_xmp_property("recordSha256", "SHA-256 of the canonical customer record")}
    </rdf:Seq></pdfaSchema:property>
   </rdf:li></rdf:Bag></pdfaExtension:schemas>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _xmp_property(name: str, description: str) -> str:
    return (
        '<rdf:li rdf:parseType="Resource"><pdfaProperty:name>'
        f"{name}</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"
    )


def _add_signature_field(writer: PdfWriter, party: Party, page_index: int, anchor: Anchor) -> None:
    """An empty signature field whose widget is the box under ``anchor``, with an empty appearance (PDF/A).

    pypdf writes it rather than pyHanko's ``append_signature_field``: that needs a pyHanko writer, and the merge
    is pypdf's (pyHanko cannot import pages from other PDFs). Handing pypdf's output to pyHanko would mean parsing
    and writing the whole document a second time (about 15 ms, 40 % of the merge), with pyHanko's full writer
    replacing the PDF/A XMP packet on write unless one of its private methods is overridden — or adding the fields
    in an incremental update, a second revision that nobody signs before ipcall.me certifies.
    """
    top = anchor.y - ANCHOR_GAP
    rect = [anchor.x, top - SIGNATURE_BOX_HEIGHT, anchor.x + SIGNATURE_BOX_WIDTH, top]
    appearance = DecodedStreamObject()
    appearance.set_data(b"")
    appearance.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                [
                    NumberObject(0),
                    NumberObject(0),
                    FloatObject(SIGNATURE_BOX_WIDTH),
                    FloatObject(SIGNATURE_BOX_HEIGHT),
                ]
            ),
            NameObject("/Resources"): DictionaryObject(),
        }
    )
    field = DictionaryObject(
        {
            NameObject("/FT"): NameObject("/Sig"),
            NameObject("/T"): TextStringObject(party.field),
            NameObject("/TU"): TextStringObject(party.anchor),  # what Acrobat shows when the customer points at it
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/F"): NumberObject(4),  # Print: PDF/A requires printable annotations
            NameObject("/Rect"): ArrayObject([FloatObject(round(v, 2)) for v in rect]),
            # pypdf has no public call for an indirect stream (an appearance must be one)
            NameObject("/AP"): DictionaryObject({NameObject("/N"): writer._add_object(appearance)}),
        }
    )
    widget = writer.add_annotation(page_index, field)  # adds it to the page's /Annots, with /P
    root = writer.root_object
    if "/AcroForm" not in root:
        # indirect, so that a signer updates the form without touching the catalog
        root[NameObject("/AcroForm")] = writer._add_object(DictionaryObject({NameObject("/Fields"): ArrayObject()}))
    fields = root["/AcroForm"].get_object()["/Fields"].get_object()  # type: ignore[index]
    fields.append(widget.indirect_reference)
