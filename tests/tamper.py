"""Building good and bad signed agreements for the verification tests.

Everything starts from a REAL agreement (``dpa.workflows.issue.assemble`` with LibreOffice) signed through
:class:`dpa.signing.sign.SigningSession` with the development PKI and the real ``dpa tsa serve`` subprocess. From
there the helpers here make the hostile variants: incremental updates written with pyHanko's
``IncrementalPdfFileWriter`` or appended by hand, byte surgery, signatures made with pyHanko directly (as "another
tool" would) with certificates and TSAs that dpa's own signing refuses, and in-process TSAs whose clock is shifted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, tsp
from asn1crypto import parser as asn1_parser
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.timestamps import DummyTimeStamper, TimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from dpa.config import Config, SignerConfig
from dpa.devtools.devpki import CertKey, DevPki, issue_cert, make_ca
from dpa.devtools.tsa_server import TimestampAuthority, TsaServer
from dpa.signing.keys import asn1_private_key
from dpa.signing.sign import SigningSession
from dpa.signing.trust import asn1_certificate

UTC = dt.UTC

# --- the real agreement, signed by both parties ---------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """A real agreement: unsigned, signed by the processor, then counter-signed by the controller."""

    unsigned: bytes
    half: bytes
    full: bytes
    processor_time: dt.datetime
    controller_time: dt.datetime


def sign_both(config: Config, unsigned: bytes, overrides: dict[str, SignerConfig] | None = None) -> Signed:
    """Processor certifies, controller counter-signs, through dpa's own SigningSession and TSA."""
    with SigningSession(config, overrides=overrides) as session:
        half, first = session.sign_bytes(unsigned, "processor", name="agreement")
        full, second = session.sign_bytes(half, "controller", name="agreement")
    assert first.timestamp is not None and second.timestamp is not None
    return Signed(unsigned, half, full, first.timestamp, second.timestamp)


def pem_signer(tmp: Path, name: str, cert_key: CertKey) -> SignerConfig:
    """A ``[signers.*]`` entry for ``cert_key`` written as PEM files (key unencrypted) under ``tmp``."""
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}-key.pem"
    cert_key.write_pem(cert_path, key_path)
    return SignerConfig(pem_key=key_path, pem_cert=cert_path)


# --- signing like another tool would: pyHanko directly --------------------------------------------------------------


def simple_signer(cert_key: CertKey) -> signers.SimpleSigner:
    """A pyHanko signer for ``cert_key`` (any certificate, including ones dpa's own signing refuses)."""
    chain = [asn1_certificate(c) for c in cert_key.chain]
    return signers.SimpleSigner(
        signing_cert=asn1_certificate(cert_key.cert),
        signing_key=asn1_private_key(cert_key.key),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def pyhanko_sign(
    data: bytes,
    field: str,
    cert_key: CertKey,
    timestamper: TimeStamper | None,
    *,
    certify: bool = False,
    new_field: SigFieldSpec | None = None,
) -> bytes:
    """Sign ``field`` of ``data`` with pyHanko's own defaults (its writer also updates /Info and XMP)."""
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )
    pdf_signer = signers.PdfSigner(meta, simple_signer(cert_key), timestamper=timestamper, new_field_spec=new_field)
    out = io.BytesIO()
    pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), output=out)
    return out.getvalue()


# --- in-process TSAs (another authority, a shifted clock) -----------------------------------------------------------


@contextlib.contextmanager
def local_tsa(
    tsa: CertKey, *, shift: dt.timedelta = dt.timedelta(0), fixed: dt.datetime | None = None
) -> Iterator[RequestsHTTPTimeStamper]:
    """A :class:`dpa.devtools.tsa_server.TsaServer` on loopback in a thread, signing with ``tsa``, whose clock is
    shifted by ``shift`` or stopped at ``fixed``; yields a pyHanko HTTP timestamp client for it."""

    def clock() -> dt.datetime:
        return fixed if fixed is not None else dt.datetime.now(UTC) + shift

    authority = TimestampAuthority(tsa.cert, tsa.key, tsa.chain, clock=clock)
    with TsaServer(authority, host="127.0.0.1", port=0) as server:
        url = server.start_in_thread()
        yield RequestsHTTPTimeStamper(url, timeout=10)


def other_tsa() -> CertKey:
    """A TSA certificate under a CA that no test configuration trusts."""
    return issue_cert(make_ca("Andere TSA CA"), "Andere TSA", profile="tsa")


@dataclass(frozen=True)
class TimeTravelPki:
    """A CA, signers and a TSA valid since 2025, for timestamps at fixed past moments."""

    ca: CertKey
    processor: CertKey
    controller: CertKey
    tsa: CertKey


def time_travel_pki() -> TimeTravelPki:
    """Certificates valid from 2025-01-01 for ten years (the dev PKI starts ten minutes ago)."""
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    ca = make_ca("dpa time-travel CA (NIET VOOR PRODUCTIE)", not_before=start)
    return TimeTravelPki(
        ca=ca,
        processor=issue_cert(ca, "ipcall.me (time travel)", not_before=start, valid_days=3650),
        controller=issue_cert(ca, "Klant (time travel)", organization="Klant B.V.", not_before=start, valid_days=3650),
        tsa=issue_cert(ca, "time-travel TSA", profile="tsa", not_before=start, valid_days=3650),
    )


# --- incremental updates --------------------------------------------------------------------------------------------


def incremental(data: bytes, edit: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """``data`` plus one incremental update made by ``edit`` with pyHanko's writer."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    edit(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def raw_update(data: bytes, objects: dict[int, bytes], *, root: int | None = None) -> bytes:
    """Append a hand-written incremental update: ``objects`` (number → body) and a classic xref section."""
    reader = PdfFileReader(io.BytesIO(data))
    trailer = reader.trailer_view
    prev = reader.xrefs.get_startxref_for_revision(reader.xrefs.total_revisions - 1)
    size = max(int(trailer["/Size"]), max(objects) + 1)
    out = bytearray(data)
    if not out.endswith(b"\n"):
        out += b"\n"
    offsets: dict[int, int] = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n"
    for number in sorted(offsets):
        out += f"{number} 1\n{offsets[number]:010d} 00000 n\r\n".encode()
    root_ref = trailer.raw_get("/Root").reference
    info = trailer.raw_get("/Info").reference if "/Info" in trailer else None
    out += b"trailer\n<< "
    out += f"/Size {size} /Root {root if root is not None else root_ref.idnum} 0 R /Prev {prev} ".encode()
    if info is not None:
        out += f"/Info {info.idnum} {info.generation} R ".encode()
    out += b">>\nstartxref\n" + str(xref_at).encode() + b"\n%%EOF\n"
    return bytes(out)


def last_startxref(data: bytes) -> int:
    """Where the last revision's cross-reference section starts."""
    reader = PdfFileReader(io.BytesIO(data))
    offset: int = reader.xrefs.get_startxref_for_revision(reader.xrefs.total_revisions - 1)
    return offset


def serialise(obj: generic.PdfObject) -> bytes:
    """The PDF syntax of a pyHanko object (indirect references stay references)."""
    stream = io.BytesIO()
    obj.write_to_stream(stream, None)
    return stream.getvalue()


def root_with(data: bytes, extra: bytes) -> bytes:
    """A raw update that rewrites the catalog with ``extra`` (PDF syntax: ``/Key value``) added to it."""
    reader = PdfFileReader(io.BytesIO(data))
    root_ref = reader.trailer_view.raw_get("/Root").reference
    body = serialise(reader.root)
    assert body.endswith(b">>")
    return raw_update(data, {root_ref.idnum: body[:-2] + b" " + extra + b" >>"})


# --- byte surgery on signatures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigLocation:
    """Where one signature dictionary sits in the file."""

    field: str
    byte_range: tuple[int, int, int, int]
    byte_range_span: tuple[int, int]
    """Start and end offset of the ``[ … ]`` array text after ``/ByteRange``."""
    contents_span: tuple[int, int]
    """Start and end offset of the ``<hex>`` of ``/Contents`` (the gap the ByteRange leaves out)."""


def locate(data: bytes, field: str) -> SigLocation:
    """Find ``field``'s signature dictionary by its ByteRange (the last one, for the controller, etc.)."""
    reader = PdfFileReader(io.BytesIO(data))
    for name, value, _ref in fields.enumerate_sig_fields(reader, filled_status=True):
        if name != field:
            continue
        sig = value.get_object()
        byte_range = tuple(int(v) for v in sig["/ByteRange"])
        start = byte_range[1]
        end = byte_range[2]
        # the /ByteRange array is written just before or after the /Contents gap: search near it
        window_start = max(0, start - 400)
        window = data[window_start : end + 400]
        match = None
        for m in re.finditer(rb"/ByteRange\s*(\[[^\]]*\])", window):
            match = m
        assert match is not None, "no /ByteRange near the signature"
        span = (window_start + match.start(1), window_start + match.end(1))
        return SigLocation(field, byte_range, span, (start, end))  # type: ignore[arg-type]
    raise AssertionError(f"no signature in {field}")


def rewrite_byte_range(data: bytes, field: str, values: str) -> bytes:
    """Replace the ``/ByteRange`` array text of ``field`` with ``values`` (padded to the same length)."""
    loc = locate(data, field)
    start, end = loc.byte_range_span
    new = values.encode()
    assert len(new) <= end - start, "new ByteRange text too long"
    return data[:start] + new.ljust(end - start) + data[end:]


def cms_of(data: bytes, field: str) -> cms.ContentInfo:
    """The CMS ContentInfo stored in ``field``'s /Contents."""
    loc = locate(data, field)
    start, end = loc.contents_span
    raw = bytes.fromhex(data[start + 1 : end - 1].decode())
    _class, _method, _tag, header, contents, _trailer = asn1_parser.parse(raw)  # drop the zero padding
    return cms.ContentInfo.load(raw[: len(header) + len(contents)])


def replace_cms(data: bytes, field: str, content: cms.ContentInfo) -> bytes:
    """Write ``content`` into ``field``'s /Contents gap (outside the signed bytes), zero-padded to fit."""
    loc = locate(data, field)
    start, end = loc.contents_span
    hex_len = end - start - 2
    encoded = content.dump().hex().encode()
    assert len(encoded) <= hex_len, "new CMS does not fit the reserved space"
    return data[: start + 1] + encoded.ljust(hex_len, b"0") + data[end - 1 :]


def with_unsigned_token(content: cms.ContentInfo, token: cms.ContentInfo | None) -> cms.ContentInfo:
    """A copy of a signature's CMS whose signature timestamp token is ``token`` (removed when ``None``)."""
    copy = cms.ContentInfo.load(content.dump())
    signer_info = copy["content"]["signer_infos"][0]
    attrs = [a for a in (signer_info["unsigned_attrs"] or []) if a["type"].native != "signature_time_stamp_token"]
    if token is not None:
        attrs.append(cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]}))
    signer_info["unsigned_attrs"] = cms.CMSAttributes(attrs) if attrs else None
    return copy


def signature_token(content: cms.ContentInfo) -> cms.ContentInfo:
    """The signature timestamp token of a signature's CMS."""
    for attr in content["content"]["signer_infos"][0]["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = attr["values"][0]
            return token
    raise AssertionError("no signature timestamp token")


def token_over(authority: TimestampAuthority, message: bytes) -> cms.ContentInfo:
    """A token from ``authority`` over SHA-256 of ``message``."""
    import hashlib

    imprint = tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": hashlib.sha256(message).digest(),
        }
    )
    return authority.issue(imprint)


def flip_byte(data: bytes, offset: int) -> bytes:
    """``data`` with the byte at ``offset`` changed (to another printable character)."""
    old = data[offset]
    new = ord("x") if old != ord("x") else ord("y")
    return data[:offset] + bytes([new]) + data[offset + 1 :]


# --- edits made with pyHanko's incremental writer ------------------------------------------------------------------


def first_page(writer: IncrementalPdfFileWriter) -> tuple[generic.DictionaryObject, generic.Reference]:
    """The first page dictionary and its reference."""
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    assert isinstance(page, generic.DictionaryObject)
    return page, page_ref


def add_page_content(text: str) -> Callable[[IncrementalPdfFileWriter], None]:
    """An edit that adds a content stream drawing ``text`` on page 1 (text added after signing)."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        page, page_ref = first_page(writer)
        font = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
        stream = generic.StreamObject(stream_data=f"BT /Fx 12 Tf 72 72 Td ({text}) Tj ET".encode("latin-1"))
        content_ref = writer.add_object(stream)
        existing = page["/Contents"]
        contents = (
            generic.ArrayObject(list(existing))
            if isinstance(existing, generic.ArrayObject)
            else generic.ArrayObject([page.raw_get("/Contents")])
        )
        contents.append(content_ref)
        page[pdf_name("/Contents")] = contents
        resources = page["/Resources"]
        if "/Font" in resources:
            fonts = resources["/Font"]
            fonts[pdf_name("/Fx")] = writer.add_object(font)
            writer.update_container(fonts)
        else:
            resources[pdf_name("/Font")] = generic.DictionaryObject({pdf_name("/Fx"): writer.add_object(font)})
        writer.update_container(resources)
        writer.mark_update(page_ref)

    return edit


def rewrite_page_content(writer: IncrementalPdfFileWriter) -> None:
    """Replace the first content stream of page 1 in place (same object number, new text)."""
    page, _ref = first_page(writer)
    raw = page.raw_get("/Contents")
    target = raw[0] if isinstance(raw, generic.ArrayObject) else raw
    ref = target.reference
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Deze overeenkomst is vervallen.) Tj ET")
    writer.mark_update(ref)
    writer.objects[(ref.generation, ref.idnum)] = stream  # override the old object with new content


def add_annotation(writer: IncrementalPdfFileWriter) -> None:
    """A filled white square annotation over the top of page 1 (hides text), plus a FreeText note."""
    page, page_ref = first_page(writer)
    annots = generic.ArrayObject(list(page.get("/Annots", generic.ArrayObject())))
    square = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Square"),
            pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (50, 600, 550, 800)]),
            pdf_name("/IC"): generic.ArrayObject([generic.FloatObject(1)] * 3),
            pdf_name("/C"): generic.ArrayObject([generic.FloatObject(1)] * 3),
            pdf_name("/F"): generic.NumberObject(4),
        }
    )
    annots.append(writer.add_object(square))
    page[pdf_name("/Annots")] = annots
    writer.mark_update(page_ref)


def add_signature_field(name: str, box: tuple[int, int, int, int]) -> Callable[[IncrementalPdfFileWriter], None]:
    """A new, empty signature field (visible when ``box`` has an area) on the last page."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        fields.append_signature_field(writer, SigFieldSpec(name, on_page=-1, box=box))

    return edit


def add_text_field(writer: IncrementalPdfFileWriter) -> None:
    """A new text field with a value, on page 1."""
    page, page_ref = first_page(writer)
    field = generic.DictionaryObject(
        {
            pdf_name("/FT"): pdf_name("/Tx"),
            pdf_name("/T"): pdf_string("opmerking"),
            pdf_name("/V"): pdf_string("Artikel 10 geldt niet."),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (72, 72, 300, 100)]),
            pdf_name("/P"): page_ref,
        }
    )
    field_ref = writer.add_object(field)
    acroform = writer.root["/AcroForm"]
    acroform["/Fields"].append(field_ref)
    writer.update_container(acroform["/Fields"])
    writer.update_container(acroform)
    annots = generic.ArrayObject(list(page.get("/Annots", generic.ArrayObject())))
    annots.append(field_ref)
    page[pdf_name("/Annots")] = annots
    writer.mark_update(page_ref)


def field_dict(writer: IncrementalPdfFileWriter, name: str) -> generic.DictionaryObject:
    """The field dictionary named ``name`` (marked as updated)."""
    for field_ref in writer.root["/AcroForm"]["/Fields"]:
        field = field_ref.get_object()
        if field.get("/T") == name:
            writer.mark_update(field_ref)
            return field  # type: ignore[no-any-return]
    raise AssertionError(name)


def hide_widget(name: str) -> Callable[[IncrementalPdfFileWriter], None]:
    """Set the widget flags of field ``name`` to Hidden (the signature disappears from view)."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        field_dict(writer, name)[pdf_name("/F")] = generic.NumberObject(2)

    return edit


def swap_value(writer: IncrementalPdfFileWriter) -> None:
    """Point the processor's field at the controller's signature dictionary (a changed field value)."""
    controller = field_dict(writer, "controller_signature")
    processor = field_dict(writer, "processor_signature")
    processor[pdf_name("/V")] = controller.raw_get("/V")


def set_info(key: str, value: str) -> Callable[[IncrementalPdfFileWriter], None]:
    """Change one entry of the document information dictionary."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        info_ref = writer.trailer.raw_get("/Info")
        info = info_ref.get_object()
        info[pdf_name(key)] = pdf_string(value)
        writer.mark_update(info_ref)

    return edit


def replace_xmp_title(title: str) -> Callable[[IncrementalPdfFileWriter], None]:
    """Rewrite the XMP packet with another dc:title."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        meta_ref = writer.root.raw_get("/Metadata")
        stream = meta_ref.get_object()
        xmp = stream.data.decode("utf-8")
        new_xmp = re.sub(r"(<dc:title>.*?<rdf:li[^>]*>)(.*?)(</rdf:li>)", rf"\g<1>{title}\g<3>", xmp, flags=re.S)
        assert new_xmp != xmp, "no dc:title in the XMP"
        replacement = generic.StreamObject(
            {pdf_name("/Type"): pdf_name("/Metadata"), pdf_name("/Subtype"): pdf_name("/XML")},
            stream_data=new_xmp.encode("utf-8"),
        )
        writer.root[pdf_name("/Metadata")] = writer.add_object(replacement)
        writer.update_root()

    return edit


def crl_revoking(ca: CertKey, cert: CertKey, when: dt.datetime, *, issued: dt.datetime | None = None) -> bytes:
    """A CRL from ``ca`` listing ``cert`` as revoked at ``when`` (DER), issued now (or at ``issued``)."""
    revoked = x509.RevokedCertificateBuilder().serial_number(cert.cert.serial_number).revocation_date(when).build()
    return _crl(ca, [revoked], issued)


def crl_of(ca: CertKey, *, issued: dt.datetime | None = None) -> bytes:
    """An empty CRL from ``ca`` (DER): none of its certificates is revoked. Issued now (or at ``issued``)."""
    return _crl(ca, [], issued)


def _crl(ca: CertKey, revoked: list[x509.RevokedCertificate], issued: dt.datetime | None) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    now = issued or dt.datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=7))
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.DER)


def with_revocation_data(data: bytes, *cas: CertKey, issued: dt.datetime | None = None) -> bytes:
    """``data`` plus a DSS update with an empty CRL from each of ``cas``: the validation data that B-LT signing or
    dpa ingest's seal adds, for files signed here with pyHanko's defaults (which embed none)."""
    return incremental(data, add_dss_crl(*(crl_of(ca, issued=issued) for ca in cas)))


def add_dss_crl(*der_crls: bytes) -> Callable[[IncrementalPdfFileWriter], None]:
    """Validation data after signing: a DSS holding ``der_crls`` (what B-LT adds; allowed by §6)."""
    from asn1crypto import crl as asn1_crl
    from pyhanko.sign.validation import DocumentSecurityStore

    crls = [asn1_crl.CertificateList.load(der) for der in der_crls]

    def edit(writer: IncrementalPdfFileWriter) -> None:
        DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=crls)

    return edit


def nested(depth: int) -> bytes:
    """``depth`` nested arrays."""
    return b"[" * depth + b"]" * depth


def dev_signer_config(pki: DevPki) -> dict[str, CertKey]:
    """The dev PKI's signers by role."""
    return {"processor": pki.processor, "controller": pki.controller}


def replace(config: Config, **changes: object) -> Config:
    """``dataclasses.replace`` for the frozen Config."""
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def accepting_processor(config: Config, processor: CertKey, folder: Path) -> Config:
    """``config`` with ``processor``'s certificate added to ``[verify] processor_certificates`` (ipcall.me's own)."""
    path = folder / f"processor-{processor.cert.serial_number}.pem"
    path.write_bytes(processor.cert_pem())
    verify = dataclasses.replace(config.verify, processor_certificates=(*config.verify.processor_certificates, path))
    return dataclasses.replace(config, verify=verify)


# --- issue 9 and 10: forged rewrites, odd tools, imprecise clocks ---------------------------------------------------


def classic_objects(document: bytes) -> tuple[dict[int, bytes], bytes]:
    """The objects of a PDF with one classic xref section (number → ``N G obj … endobj`` body), and its trailer
    dictionary text."""
    xref_at = int(re.findall(rb"startxref\s+(\d+)", document)[-1])
    table = document[xref_at:]
    assert table.startswith(b"xref"), "a classic cross-reference table"
    lines = table.split(b"\n")
    objects: dict[int, bytes] = {}
    index = 1
    while not lines[index].startswith(b"trailer"):
        first, count = (int(v) for v in lines[index].split())
        for number in range(first, first + count):
            entry = lines[index + 1 + number - first]
            offset, _gen, kind = entry.split()[:3]
            if kind == b"n":
                start = int(offset)
                end = document.index(b"endobj", start) + len(b"endobj")
                body = document[start:end]
                objects[number] = body[body.index(b"obj") + 3 : -len(b"endobj")].strip()
        index += 1 + count
    trailer = table[table.index(b"trailer") + len(b"trailer") : table.index(b"startxref")]
    return objects, trailer


def restart_without_prev(prefix: bytes, document: bytes) -> bytes:
    """``prefix`` followed by every object of ``document`` and a cross-reference section WITHOUT /Prev: the file
    starts with the issued bytes, but its chain of revisions begins again after them."""
    objects, trailer = classic_objects(document)
    out = bytearray(prefix if prefix.endswith(b"\n") else prefix + b"\n")
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    size = max(objects) + 1
    xref_at = len(out)
    out += f"xref\n0 {size}\n0000000000 65535 f\r\n".encode()
    for number in range(1, size):
        out += (f"{offsets[number]:010d} 00000 n\r\n" if number in offsets else "0000000000 00000 f\r\n").encode()
    trailer_text = re.sub(rb"/Prev\s+\d+", b"", trailer).strip()
    out += b"trailer\n" + trailer_text + b"\nstartxref\n" + str(xref_at).encode() + b"\n%%EOF\n"
    return bytes(out)


def renamed_fields_rewrite(unsigned: bytes, names: dict[str, str]) -> bytes:
    """A complete rewrite (pypdf, not incremental) of ``unsigned`` with its signature fields renamed."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(unsigned)))
    for field in writer._root_object["/AcroForm"]["/Fields"]:
        obj = field.get_object()
        if str(obj.get("/T")) in names:
            obj[NameObject("/T")] = TextStringObject(names[str(obj["/T"])])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class ImpreciseTimeStamper(DummyTimeStamper):  # type: ignore[misc]
    """pyHanko's in-process test TSA, whose tokens state a chosen accuracy (and optionally a fixed genTime)."""

    def __init__(self, tsa: CertKey, accuracy: dt.timedelta, fixed: dt.datetime | None = None) -> None:
        super().__init__(
            tsa_cert=asn1_certificate(tsa.cert),
            tsa_key=asn1_private_key(tsa.key),
            certs_to_embed=SimpleCertificateStore.from_certs([asn1_certificate(c) for c in tsa.chain]),
            fixed_dt=fixed,
        )
        self.accuracy = accuracy

    def _build_tst_info(
        self, message_imprint: tsp.MessageImprint, when: dt.datetime, req: tsp.TimeStampReq
    ) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, when, req)
        seconds = int(self.accuracy.total_seconds())
        fields = {name: info[name] for name in ("version", "policy", "message_imprint", "serial_number", "gen_time")}
        extra = {name: info[name] for name in ("tsa", "nonce") if info[name].native is not None}
        return tsp.TSTInfo({**fields, "accuracy": {"seconds": seconds}, **extra})


@contextlib.contextmanager
def claimed_signing_time(when: dt.datetime) -> Iterator[None]:
    """While signing with pyHanko, its clock (the signingTime attribute and /M) reads ``when``."""
    from unittest import mock

    from pyhanko.sign.signers import pdf_signer

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Clock:
            moment = when.astimezone(tz) if tz is not None else when
            return cls.fromtimestamp(moment.timestamp(), moment.tzinfo)

    with mock.patch.object(pdf_signer, "datetime", Clock):
        yield


@contextlib.contextmanager
def odd_signing_time(text: str) -> Iterator[None]:
    """While signing with pyHanko, write /M as ``text`` (e.g. LibreOffice's ``D:20261201085422Z'``)."""
    from unittest import mock

    from pyhanko.sign.signers import pdf_byterange

    with mock.patch.object(pdf_byterange, "pdf_date", lambda _when: pdf_string(text)):
        yield


def acroform_edit(key: str, value: generic.PdfObject) -> Callable[[IncrementalPdfFileWriter], None]:
    """Set ``key`` of the AcroForm dictionary (e.g. /NeedAppearances, /DR)."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        acroform = writer.root["/AcroForm"]
        acroform[pdf_name(key)] = value
        writer.update_container(acroform)

    return edit


def replace_xmp(transform: Callable[[str], str]) -> Callable[[IncrementalPdfFileWriter], None]:
    """Rewrite the XMP packet as ``transform`` says (the catalog then points at the new stream)."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        stream = writer.root.raw_get("/Metadata").get_object()
        new_xmp = transform(stream.data.decode("utf-8"))
        replacement = generic.StreamObject(
            {pdf_name("/Type"): pdf_name("/Metadata"), pdf_name("/Subtype"): pdf_name("/XML")},
            stream_data=new_xmp.encode("utf-8"),
        )
        writer.root[pdf_name("/Metadata")] = writer.add_object(replacement)
        writer.update_root()

    return edit


def orphaned_generation_update(data: bytes) -> bytes:
    """An incremental update that writes a new object with generation 1 and no free entry for generation 0, as
    poppler's signer does (pyHanko's strict reader stops there)."""
    reader = PdfFileReader(io.BytesIO(data))
    size = int(reader.trailer_view["/Size"])
    root_ref = reader.trailer_view.raw_get("/Root").reference
    prev = reader.xrefs.get_startxref_for_revision(reader.xrefs.total_revisions - 1)
    out = bytearray(data)
    offset = len(out)
    out += f"{size} 1 obj\n<< /Poppler true >>\nendobj\n".encode()
    xref_at = len(out)
    out += (
        f"xref\n{size} 1\n{offset:010d} 00001 n\r\ntrailer\n<< /Size {size + 1} /Root {root_ref.idnum} 0 R "
        f"/Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)


def controller_box(data: bytes) -> tuple[int, tuple[float, float, float, float]]:
    """The customer's prepared field: (0-based page index, rectangle), read with pypdf."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    for page_index, page in enumerate(reader.pages):
        for annot in page.get("/Annots") or []:
            widget = annot.get_object()
            parent = widget.get("/Parent")
            name = widget.get("/T") or (parent.get_object().get("/T") if parent else None)
            if name == "controller_signature":
                x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
                return page_index, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    raise AssertionError("no controller_signature widget")


def add_markup(
    subtype: str,
    page_index: int,
    rect: tuple[float, float, float, float],
    extra: dict[str, generic.PdfObject] | None = None,
) -> Callable[[IncrementalPdfFileWriter], None]:
    """A markup annotation (``/Ink``, ``/FreeText``, ``/Stamp``) on a page, as Acrobat's Fill & Sign adds it."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        page_ref, _resources = writer.find_page_for_modification(page_index)
        page = page_ref.get_object()
        annot = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name(subtype),
                pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
                pdf_name("/F"): generic.NumberObject(4),
                pdf_name("/P"): page_ref,
                **(extra or {}),
            }
        )
        annots = generic.ArrayObject(list(page.get("/Annots", generic.ArrayObject())))
        annots.append(writer.add_object(annot))
        page[pdf_name("/Annots")] = annots
        writer.mark_update(page_ref)

    return edit


def ink_in(rect: tuple[float, float, float, float]) -> dict[str, generic.PdfObject]:
    """An /InkList scribble inside ``rect``."""
    x0, y0, x1, y1 = rect
    points = [x0 + 5, y0 + 5, (x0 + x1) / 2, y1 - 5, x1 - 5, y0 + 10]
    return {pdf_name("/InkList"): generic.ArrayObject([generic.ArrayObject([generic.FloatObject(p) for p in points])])}
