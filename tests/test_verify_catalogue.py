"""The catalogue of tampered and bad agreements: each case is built from a REAL signed agreement and must get the
verdict DESIGN.md §6 demands — indication AND sub-indication — with a sentence saying why.

The good agreement is assembled with LibreOffice, certified by the processor and counter-signed by the controller
through dpa's SigningSession and the real ``dpa tsa serve`` subprocess. Every variant is verified through the real
worker process (:class:`dpa.verify.verifier.Verifier`).
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec

from dpa.config import Config
from dpa.devtools.devpki import DevPki, issue_cert, make_lookalike
from dpa.devtools.tsa_server import TimestampAuthority
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.report import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED
from dpa.verify.verifier import Verifier
from tests import tamper
from tests.tamper import Signed, TimeTravelPki

pytestmark = pytest.mark.libreoffice

UTC = dt.UTC
FAILED, INDET = TOTAL_FAILED, INDETERMINATE


@dataclass(frozen=True)
class Kit:
    """What the cases are built from."""

    good: Signed
    pki: DevPki
    config: Config
    travel: TimeTravelPki
    tmp: Path

    def timestamper(self) -> tamper.TimeStamper:
        """dpa's own timestamp client for the session TSA (checks the token, like `dpa sign`)."""
        return timestamper_from_config(self.config)

    def controller_signs(self, cert_key: tamper.CertKey, timestamper: tamper.TimeStamper | None = None) -> bytes:
        """The processor-signed agreement counter-signed by ``cert_key`` with pyHanko directly (another tool)."""
        return tamper.pyhanko_sign(self.good.half, "controller_signature", cert_key, timestamper or self.timestamper())


@pytest.fixture(scope="module")
def kit(
    assembled_agreement: bytes, signing_config: Config, dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory
) -> Kit:
    good = tamper.sign_both(signing_config, assembled_agreement)
    return Kit(good, dev_pki, signing_config, tamper.time_travel_pki(), tmp_path_factory.mktemp("catalogue"))


@pytest.fixture(scope="module")
def verifier(kit: Kit) -> Iterator[Verifier]:
    travel_ca = kit.tmp / "time-travel-ca.pem"
    travel_ca.write_bytes(kit.travel.ca.cert_pem())
    config = tamper.accepting_processor(kit.config, kit.travel.processor, kit.tmp)
    with Verifier(config, extra_trust=[travel_ca], extra_tsa_trust=[travel_ca]) as v:
        yield v


# --- the builders --------------------------------------------------------------------------------------------------


def byte_in_signed_range(k: Kit) -> bytes:
    at = k.good.full.index(b"/DPACustomerId")
    value = k.good.full.index(b"C-1001", at)
    return k.good.full[:value] + b"C-9001" + k.good.full[value + 6 :]


def byte_in_countersignature(k: Kit) -> bytes:
    loc = tamper.locate(k.good.full, "controller_signature")
    stream = k.good.full.index(b"stream", len(k.good.half), loc.contents_span[0])
    return tamper.flip_byte(k.good.full, stream + 40)


def signature_value_corrupted(k: Kit) -> bytes:
    content = tamper.cms_of(k.good.full, "controller_signature")
    copy = cms.ContentInfo.load(content.dump())
    signer_info = copy["content"]["signer_infos"][0]
    value = bytearray(signer_info["signature"].native)
    value[10] ^= 0xFF
    signer_info["signature"] = bytes(value)
    return tamper.replace_cms(k.good.full, "controller_signature", copy)


def contents_key_renamed(k: Kit) -> bytes:
    loc = tamper.locate(k.good.full, "controller_signature")
    key = k.good.full.rindex(b"/Contents", 0, loc.contents_span[0])
    return k.good.full[:key] + b"/Contentz" + k.good.full[key + 9 :]


def contents_garbage(k: Kit) -> bytes:
    loc = tamper.locate(k.good.full, "controller_signature")
    start, end = loc.contents_span
    return k.good.full[: start + 1] + b"0" * (end - start - 2) + k.good.full[end - 1 :]


def byte_range_key_renamed(k: Kit) -> bytes:
    loc = tamper.locate(k.good.full, "controller_signature")
    key = k.good.full.rindex(b"/ByteRange", 0, loc.byte_range_span[0])
    return k.good.full[:key] + b"/ByteRangx" + k.good.full[key + 10 :]


def byte_range_three_numbers(k: Kit) -> bytes:
    a, b, c, _d = tamper.locate(k.good.full, "controller_signature").byte_range
    return tamper.rewrite_byte_range(k.good.full, "controller_signature", f"[{a} {b} {c}]")


def byte_range_wrapping(k: Kit) -> bytes:
    """The ByteRange leaves out more than /Contents: the bytes before it can show anything."""
    a, b, c, d = tamper.locate(k.good.full, "controller_signature").byte_range
    return tamper.rewrite_byte_range(k.good.full, "controller_signature", f"[{a} {b - 40} {c} {d}]")


def byte_range_beyond_eof(k: Kit) -> bytes:
    a, b, c, d = tamper.locate(k.good.full, "controller_signature").byte_range
    return tamper.rewrite_byte_range(k.good.full, "controller_signature", f"[{a} {b} {c} {d + 5000}]")


def byte_range_not_from_start(k: Kit) -> bytes:
    _a, b, c, d = tamper.locate(k.good.full, "controller_signature").byte_range
    return tamper.rewrite_byte_range(k.good.full, "controller_signature", f"[9 {b - 9} {c} {d}]")


def timestamp_over_other_message(k: Kit) -> bytes:
    authority = TimestampAuthority(k.pki.tsa.cert, k.pki.tsa.key, [k.pki.ca.cert])
    token = tamper.token_over(authority, b"een ander bericht")
    content = tamper.cms_of(k.good.full, "controller_signature")
    return tamper.replace_cms(k.good.full, "controller_signature", tamper.with_unsigned_token(content, token))


def timestamp_token_tampered(k: Kit) -> bytes:
    content = tamper.cms_of(k.good.full, "controller_signature")
    token = cms.ContentInfo.load(tamper.signature_token(content).dump())
    tsa_signer = token["content"]["signer_infos"][0]
    value = bytearray(tsa_signer["signature"].native)
    value[5] ^= 0xFF
    tsa_signer["signature"] = bytes(value)
    return tamper.replace_cms(k.good.full, "controller_signature", tamper.with_unsigned_token(content, token))


def timestamp_removed(k: Kit) -> bytes:
    """The token is outside the signed bytes: stripping it leaves an intact signature without a timestamp."""
    content = tamper.cms_of(k.good.full, "controller_signature")
    return tamper.replace_cms(k.good.full, "controller_signature", tamper.with_unsigned_token(content, None))


def no_timestamp(k: Kit) -> bytes:
    return tamper.pyhanko_sign(k.good.half, "controller_signature", k.pki.controller, None)


def untrusted_tsa(k: Kit) -> bytes:
    with tamper.local_tsa(tamper.other_tsa()) as stamper:
        return k.controller_signs(k.pki.controller, stamper)


def timestamp_in_future(k: Kit) -> bytes:
    with tamper.local_tsa(k.pki.tsa, shift=dt.timedelta(days=1)) as stamper:
        return k.controller_signs(k.pki.controller, stamper)


def timestamps_out_of_order(k: Kit) -> bytes:
    """Both signatures with trusted timestamps, but the counter-signature's lies a month before the first."""
    unsigned = k.good.unsigned
    with tamper.local_tsa(k.travel.tsa, fixed=dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) as stamper:
        half = tamper.pyhanko_sign(unsigned, "processor_signature", k.travel.processor, stamper, certify=True)
    with tamper.local_tsa(k.travel.tsa, fixed=dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC)) as stamper:
        return tamper.pyhanko_sign(half, "controller_signature", k.travel.controller, stamper)


def document_timestamp_only(k: Kit) -> bytes:
    """No party signed: the unsigned agreement with only a document timestamp."""
    out = io.BytesIO()
    signers.PdfTimeStamper(k.timestamper()).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(k.good.unsigned)), "sha256", output=out
    )
    return out.getvalue()


def processor_field_signed_by_customer(k: Kit) -> bytes:
    """A trusted certificate, but not ipcall.me's, fills the processor's field (and the customer signs its own)."""
    half = tamper.pyhanko_sign(k.good.unsigned, "processor_signature", k.pki.controller, k.timestamper(), certify=True)
    return tamper.pyhanko_sign(half, "controller_signature", k.pki.controller, k.timestamper())


def signer_lookalike_ca(k: Kit) -> bytes:
    fake_ca = make_lookalike(k.pki.ca)
    return k.controller_signs(issue_cert(fake_ca, k.pki.controller.common_name, organization="Voorbeeldklant B.V."))


def signer_self_signed(k: Kit) -> bytes:
    return k.controller_signs(make_lookalike(k.pki.controller))


def signer_expired(k: Kit) -> bytes:
    return k.controller_signs(issue_cert(k.pki.ca, "Verlopen Klant", expired=True))


def signer_not_yet_valid(k: Kit) -> bytes:
    start = dt.datetime.now(UTC) + dt.timedelta(days=1)
    return k.controller_signs(issue_cert(k.pki.ca, "Toekomstige Klant", not_before=start))


def signer_revoked(k: Kit) -> bytes:
    """A CRL (added as validation data, which is allowed) says the controller's key was revoked before it signed."""
    revoked_at = k.good.controller_time - dt.timedelta(minutes=1)
    crl = tamper.crl_revoking(k.pki.ca, k.pki.controller, revoked_at)
    return tamper.incremental(k.good.full, tamper.add_dss_crl(crl))


def third_signature_new_field(k: Kit) -> bytes:
    spec = SigFieldSpec("getuige", on_page=-1, box=(60, 40, 280, 100))
    return tamper.pyhanko_sign(k.good.full, "getuige", k.pki.controller, k.timestamper(), new_field=spec)


def encrypted(k: Kit) -> bytes:
    source, target = k.tmp / "plain.pdf", k.tmp / "encrypted.pdf"
    source.write_bytes(k.good.full)
    subprocess.run(
        ["qpdf", "--encrypt", "", "eigenaar", "256", "--", str(source), str(target)], check=True, capture_output=True
    )
    return target.read_bytes()


# --- issue 9: a verdict that cannot be forged ------------------------------------------------------------------------

FORGED_NAMES = {"processor_signature": "Verwerker_Handtekening", "controller_signature": "Klant_Handtekening"}


def forged_rewrite(k: Kit) -> bytes:
    """The issued prefix, then a complete rewrite (renamed fields) in a revision without /Prev, signed only by the
    customer."""
    rewrite = tamper.renamed_fields_rewrite(k.good.unsigned, FORGED_NAMES)
    forged = tamper.restart_without_prev(k.good.half, rewrite)
    return tamper.pyhanko_sign(forged, "Klant_Handtekening", k.pki.controller, k.timestamper())


def renamed_fields_customer_certifies(k: Kit) -> bytes:
    """dpa's agreement (its metadata) with renamed fields, certified by the customer: no processor signature."""
    rewrite = tamper.renamed_fields_rewrite(k.good.unsigned, FORGED_NAMES)
    half = tamper.pyhanko_sign(rewrite, "Verwerker_Handtekening", k.pki.controller, k.timestamper(), certify=True)
    return tamper.pyhanko_sign(half, "Klant_Handtekening", k.pki.controller, k.timestamper())


def countersigned_with_processor_key(k: Kit) -> bytes:
    return k.controller_signs(k.pki.processor)


def controller_imitates_processor(k: Kit) -> bytes:
    return k.controller_signs(issue_cert(k.pki.ca, "ipcall.me", organization="ipcall.me"))


def signer_server_auth_only(k: Kit) -> bytes:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert = issue_cert(
        k.pki.ca, "Klant TLS", organization="Klant B.V.", extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH]
    )
    return k.controller_signs(cert)


def tsa_eku_not_critical(k: Kit) -> bytes:
    """dpa's own TSA server refuses such a certificate, so pyHanko's in-process TSA signs with it."""
    tsa = issue_cert(k.pki.tsa_ca, "TSA zonder kritieke EKU", profile="tsa", eku_critical=False)
    return k.controller_signs(k.pki.controller, tamper.ImpreciseTimeStamper(tsa, dt.timedelta(seconds=1)))


def tsa_with_second_eku(k: Kit) -> bytes:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ekus = [ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.SERVER_AUTH]
    tsa = issue_cert(k.pki.tsa_ca, "TSA en webserver", profile="tsa", extended_key_usage=ekus)
    with tamper.local_tsa(tsa) as stamper:
        return k.controller_signs(k.pki.controller, stamper)


def timestamp_ahead_with_large_accuracy(k: Kit) -> bytes:
    """genTime 20 days ahead, accuracy ±30 days: with accuracy credit it would have looked acceptable."""
    ahead = dt.datetime.now(UTC) + dt.timedelta(days=20)
    stamper = tamper.ImpreciseTimeStamper(k.pki.tsa, dt.timedelta(days=30), fixed=ahead)
    return k.controller_signs(k.pki.controller, stamper)


def second_certification(k: Kit) -> bytes:
    """pyHanko refuses a second certification; with that guard switched off it writes one, as a careless tool does."""
    from unittest import mock

    with mock.patch.object(signers.PdfSigner, "_enforce_certification_constraints", lambda self, reader: None):
        return tamper.pyhanko_sign(k.good.half, "controller_signature", k.pki.controller, k.timestamper(), certify=True)


def extension_added(k: Kit) -> bytes:
    def edit(writer: IncrementalPdfFileWriter) -> None:
        from pyhanko.pdf_utils import generic

        extensions = writer.root.get("/Extensions") or generic.DictionaryObject()
        extensions[generic.pdf_name("/XYZ")] = generic.DictionaryObject(
            {
                generic.pdf_name("/BaseVersion"): generic.pdf_name("/1.7"),
                generic.pdf_name("/ExtensionLevel"): generic.NumberObject(3),
            }
        )
        writer.root[generic.pdf_name("/Extensions")] = extensions
        writer.update_root()

    return tamper.incremental(k.good.full, edit)


def unknown_filter(k: Kit) -> bytes:
    at = k.good.full.index(b"/Adobe.PPKLite", len(k.good.half))
    return k.good.full[:at] + b"/Xdobe.PPKLite" + k.good.full[at + 14 :]


def xmp_second_description(k: Kit) -> bytes:
    """A second rdf:Description with another title next to the original one."""

    def transform(xmp: str) -> str:
        extra = (
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt>'
            '<rdf:li xml:lang="nl">Koopovereenkomst</rdf:li></rdf:Alt></dc:title></rdf:Description>'
        )
        return xmp.replace("</rdf:RDF>", extra + "</rdf:RDF>")

    return tamper.incremental(k.good.full, tamper.replace_xmp(transform))


def xmp_title_behind_comment(k: Kit) -> bytes:
    """A changed title, with the old one left in a comment."""

    def transform(xmp: str) -> str:
        import re

        return re.sub(
            r"(<dc:title>.*?<rdf:li[^>]*>)(.*?)(</rdf:li>)",
            r"\g<1><!-- \g<2> -->Koopovereenkomst\g<3>",
            xmp,
            flags=re.S,
        )

    return tamper.incremental(k.good.full, tamper.replace_xmp(transform))


def xmp_title_as_entity(k: Kit) -> bytes:
    """The title spelt through an internal DTD entity."""

    def transform(xmp: str) -> str:
        start = xmp.index("<x:xmpmeta")
        dtd = '<!DOCTYPE x:xmpmeta [<!ENTITY t "Koopovereenkomst">]>'
        import re

        body = re.sub(r"(<dc:title>.*?<rdf:li[^>]*>)(.*?)(</rdf:li>)", r"\g<1>&t;\g<3>", xmp[start:], flags=re.S)
        return xmp[:start] + dtd + body

    return tamper.incremental(k.good.full, tamper.replace_xmp(transform))


def xmp_shorthand_title_changed(k: Kit) -> bytes:
    """The whole packet rewritten in RDF shorthand (as iText does), with the customer id changed."""

    def transform(xmp: str) -> str:
        import re

        return re.sub(r"<dpa:customerId>[^<]*</dpa:customerId>", "", xmp).replace(
            'xmlns:dpa="https://ipcall.me/ns/dpa/1.0/"',
            'xmlns:dpa="https://ipcall.me/ns/dpa/1.0/" dpa:customerId="C-9"',
        )

    return tamper.incremental(k.good.full, tamper.replace_xmp(transform))


def drawn_in_box(subtype: str) -> Callable[[Kit], bytes]:
    """Fill & Sign: the customer draws (ink), types (free text) or stamps inside their box instead of signing."""

    def build(k: Kit) -> bytes:
        page, box = tamper.controller_box(k.good.half)
        inner = (box[0] + 10, box[1] + 5, box[2] - 10, box[3] - 5)
        extra = tamper.ink_in(inner) if subtype == "/Ink" else {}
        if subtype == "/FreeText":
            extra = {tamper.pdf_name("/Contents"): tamper.pdf_string("J. de Vries"),
                     tamper.pdf_name("/DA"): tamper.pdf_string("/Helv 12 Tf 0 g")}  # fmt: skip
        return tamper.incremental(k.good.half, tamper.add_markup(subtype, page, inner, extra))

    return build


def ink_over_text(k: Kit) -> bytes:
    """A drawing that reaches the agreement's text on page 1 (outside the customer's box)."""
    rect = (50.0, 500.0, 550.0, 800.0)
    return tamper.incremental(k.good.half, tamper.add_markup("/Ink", 0, rect, tamper.ink_in(rect)))


@dataclass(frozen=True)
class Case:
    """One catalogue entry."""

    id: str
    build: Callable[[Kit], bytes]
    indication: str
    sub_indication: str
    says: str
    """A word or phrase the problem sentences must contain."""


def defaults_added_with_a_text_field(kit: Kit) -> bytes:
    """Default resources added to a form that also gains a text field, whose appearance a viewer builds from them."""

    def edit(writer: tamper.IncrementalPdfFileWriter) -> None:
        text_field = tamper.generic.DictionaryObject(
            {tamper.pdf_name("/FT"): tamper.pdf_name("/Tx"), tamper.pdf_name("/T"): tamper.pdf_string("opmerking")}
        )
        acroform = writer.root["/AcroForm"]
        acroform["/Fields"].append(writer.add_object(text_field))
        acroform[tamper.pdf_name("/DR")] = tamper.generic.DictionaryObject()
        writer.update_container(acroform)
        writer.update_container(acroform["/Fields"])

    return tamper.incremental(kit.good.full, edit)


CASES = [
    # the signed bytes and the signature value
    Case("byte-changed-in-signed-range", byte_in_signed_range, FAILED, "HASH_FAILURE", "changed inside the signed"),
    Case("byte-changed-in-countersignature", byte_in_countersignature, FAILED, "HASH_FAILURE", "signed range"),
    Case("signature-value-corrupted", signature_value_corrupted, FAILED, "SIG_CRYPTO_FAILURE", "public key"),
    # changes after signing (incremental updates)
    Case("page-content-rewritten", lambda k: tamper.incremental(k.good.full, tamper.rewrite_page_content), FAILED,
         "FORMAT_FAILURE", "changed after this signature"),
    Case("text-added-to-page", lambda k: tamper.incremental(k.good.full, tamper.add_page_content("Nieuw artikel 16")),
         FAILED, "FORMAT_FAILURE", "changed after this signature"),
    Case("annotation-over-text", lambda k: tamper.incremental(k.good.full, tamper.add_annotation), FAILED,
         "FORMAT_FAILURE", "changed after this signature"),
    Case("new-visible-signature-field",
         lambda k: tamper.incremental(k.good.full, tamper.add_signature_field("getuige", (60, 40, 280, 100))),
         FAILED, "FORMAT_FAILURE", "getuige"),
    Case("new-invisible-empty-signature-field",
         lambda k: tamper.incremental(k.good.full, tamper.add_signature_field("leeg", (0, 0, 0, 0))),
         FAILED, "FORMAT_FAILURE", "leeg"),
    Case("new-text-field", lambda k: tamper.incremental(k.good.full, tamper.add_text_field), FAILED, "FORMAT_FAILURE",
         "opmerking"),
    Case("widget-flag-hidden", lambda k: tamper.incremental(k.good.full, tamper.hide_widget("processor_signature")),
         FAILED, "FORMAT_FAILURE", "changed after this signature"),
    Case("field-value-swapped", lambda k: tamper.incremental(k.good.full, tamper.swap_value), FAILED,
         "FORMAT_FAILURE", "changed after this signature"),
    Case("info-customer-id-changed",
         lambda k: tamper.incremental(k.good.full, tamper.set_info("/DPACustomerId", "C-9999")), FAILED,
         "FORMAT_FAILURE", "/DPACustomerId"),
    Case("xmp-title-changed", lambda k: tamper.incremental(k.good.full, tamper.replace_xmp_title("Koopovereenkomst")),
         FAILED, "FORMAT_FAILURE", "XMP"),
    Case("third-signature-in-new-field", third_signature_new_field, INDET, "SIG_CONSTRAINTS_FAILURE",
         "signed in a new field 'getuige' on page"),
    # bytes no revision accounts for
    Case("bytes-after-eof", lambda k: k.good.full + b"Artikel 16: de prijs is nul.\n", FAILED, "FORMAT_FAILURE",
         "%%EOF"),
    Case("startxref-and-eof-appended", lambda k: k.good.full + b"% verborgen regel\nstartxref\n"
         + str(tamper.last_startxref(k.good.full)).encode() + b"\n%%EOF\n", FAILED, "FORMAT_FAILURE", "%%EOF"),
    Case("fake-eof-appended", lambda k: k.good.full + b"% verborgen\n%%EOF\n", FAILED, "FORMAT_FAILURE", "PDF"),
    # malformed signature dictionaries
    Case("contents-missing", contents_key_renamed, FAILED, "FORMAT_FAILURE", "malformed"),
    Case("contents-garbage", contents_garbage, FAILED, "FORMAT_FAILURE", "malformed"),
    Case("byte-range-missing", byte_range_key_renamed, FAILED, "FORMAT_FAILURE", "malformed"),
    Case("byte-range-three-numbers", byte_range_three_numbers, FAILED, "FORMAT_FAILURE", "ByteRange"),
    Case("byte-range-wrapping", byte_range_wrapping, FAILED, "FORMAT_FAILURE", "ByteRange"),
    Case("byte-range-beyond-eof", byte_range_beyond_eof, FAILED, "FORMAT_FAILURE", "ByteRange"),
    Case("byte-range-not-from-start", byte_range_not_from_start, FAILED, "FORMAT_FAILURE", "ByteRange"),
    # files that are not (whole) signed PDFs
    Case("truncated-half", lambda k: k.good.full[: len(k.good.full) // 2], FAILED, "FORMAT_FAILURE", "PDF"),
    Case("truncated-tail", lambda k: k.good.full[:-40], FAILED, "FORMAT_FAILURE", ""),
    Case("not-a-pdf", lambda k: b"PK\x03\x04 dit is een zip, geen PDF", FAILED, "FORMAT_FAILURE", "not a PDF"),
    Case("empty-file", lambda k: b"", FAILED, "FORMAT_FAILURE", "empty"),
    Case("no-signature", lambda k: k.good.unsigned, FAILED, "FORMAT_FAILURE", "no signature"),
    Case("document-timestamp-only", document_timestamp_only, FAILED, "FORMAT_FAILURE", "only document timestamps"),
    Case("processor-field-signed-by-customer", processor_field_signed_by_customer, FAILED, "FORMAT_FAILURE",
         "not one of ipcall.me's certificates"),
    Case("deep-nesting-arrays", lambda k: tamper.root_with(k.good.full, b"/Nest " + tamper.nested(100_000)), FAILED,
         "FORMAT_FAILURE", "nested too deeply"),
    Case("deep-nesting-dicts", lambda k: tamper.root_with(k.good.full, b"/Nest " + b"<< /A " * 50_000 + b"/B" +
                                                         b" >>" * 50_000), FAILED, "FORMAT_FAILURE", "cannot be read"),
    Case("encrypted", encrypted, INDET, "GENERIC", "encrypted"),
    # the signer's certificate at the timestamp's time
    Case("signer-lookalike-ca", signer_lookalike_ca, INDET, "NO_CERTIFICATE_CHAIN_FOUND", "trust root"),
    Case("signer-self-signed-lookalike", signer_self_signed, INDET, "NO_CERTIFICATE_CHAIN_FOUND", "trust root"),
    Case("signer-expired-at-timestamp", signer_expired, INDET, "OUT_OF_BOUNDS_NO_POE", "had expired"),
    Case("signer-not-yet-valid-at-timestamp", signer_not_yet_valid, FAILED, "NOT_YET_VALID", "not yet valid"),
    Case("signer-revoked-before-timestamp", signer_revoked, INDET, "REVOKED_NO_POE", "revoked"),
    # the timestamp
    Case("no-timestamp", no_timestamp, INDET, "SIG_CONSTRAINTS_FAILURE", "no RFC 3161 timestamp"),
    Case("timestamp-stripped", timestamp_removed, INDET, "SIG_CONSTRAINTS_FAILURE", "no RFC 3161 timestamp"),
    Case("timestamp-untrusted-tsa", untrusted_tsa, INDET, "NO_CERTIFICATE_CHAIN_FOUND", "not trusted"),
    Case("timestamp-over-other-message", timestamp_over_other_message, INDET, "SIG_CONSTRAINTS_FAILURE",
         "does not stamp this signature"),
    Case("timestamp-token-tampered", timestamp_token_tampered, INDET, "SIG_CONSTRAINTS_FAILURE", "broken"),
    Case("timestamp-in-future", timestamp_in_future, INDET, "SIG_CONSTRAINTS_FAILURE", "future"),
    Case("timestamps-out-of-order", timestamps_out_of_order, INDET, "TIMESTAMP_ORDER_FAILURE", "earlier than"),
    # issue 9: unaccounted bytes, agreements recognised by content, borrowed keys, one trust list, chosen dates
    Case("forged-rewrite-without-prev", forged_rewrite, FAILED, "FORMAT_FAILURE", "restarts without /Prev"),
    Case("renamed-fields-certified-by-customer", renamed_fields_customer_certifies, FAILED, "FORMAT_FAILURE",
         "not one of ipcall.me's certificates"),
    Case("countersigned-with-processor-key", countersigned_with_processor_key, INDET, "SIG_CONSTRAINTS_FAILURE",
         "ipcall.me's own certificates"),
    Case("controller-imitates-processor", controller_imitates_processor, INDET, "SIG_CONSTRAINTS_FAILURE",
         "imitates the processor"),
    Case("signer-eku-server-auth-only", signer_server_auth_only, INDET, "CHAIN_CONSTRAINTS_FAILURE",
         "extended key usage"),
    Case("tsa-eku-not-critical", tsa_eku_not_critical, INDET, "CHAIN_CONSTRAINTS_FAILURE", "critical extended key"),
    Case("tsa-eku-not-alone", tsa_with_second_eku, INDET, "CHAIN_CONSTRAINTS_FAILURE", "timeStamping alone"),
    Case("timestamp-ahead-large-accuracy", timestamp_ahead_with_large_accuracy, INDET, "SIG_CONSTRAINTS_FAILURE",
         "after the moment of validation"),
    # issue 9 cause 7: changes that slipped through after signing
    Case("second-certification", second_certification, FAILED, "FORMAT_FAILURE", "second certification"),
    Case("acroform-need-appearances", lambda k: tamper.incremental(
        k.good.full, tamper.acroform_edit("/NeedAppearances", tamper.generic.BooleanObject(True))), FAILED,
         "FORMAT_FAILURE", "/NeedAppearances"),
    Case("acroform-defaults-for-a-text-field", defaults_added_with_a_text_field, FAILED, "FORMAT_FAILURE", "/DR"),
    Case("catalog-version-changed", lambda k: tamper.root_with(k.good.full, b"/Version /2.0"), FAILED,
         "FORMAT_FAILURE", "changed after this signature"),
    Case("catalog-markinfo-changed", lambda k: tamper.root_with(k.good.full, b"/MarkInfo << /Marked false >>"),
         FAILED, "FORMAT_FAILURE", "changed after this signature"),
    Case("catalog-extension-added", extension_added, FAILED, "FORMAT_FAILURE", "/XYZ"),
    Case("unknown-signature-filter", unknown_filter, FAILED, "FORMAT_FAILURE", "/Filter"),
    Case("xmp-second-description", xmp_second_description, FAILED, "FORMAT_FAILURE", "XMP"),
    Case("xmp-title-behind-comment", xmp_title_behind_comment, FAILED, "FORMAT_FAILURE", "XMP"),
    Case("xmp-title-as-entity", xmp_title_as_entity, FAILED, "FORMAT_FAILURE", "XMP"),
    Case("xmp-shorthand-customer-id-changed", xmp_shorthand_title_changed, FAILED, "FORMAT_FAILURE", "XMP"),
    # issue 10 §6: Fill & Sign instead of a digital signature
    Case("ink-signature-in-box", drawn_in_box("/Ink"), INDET, "SIG_CONSTRAINTS_FAILURE",
         "the customer drew a signature in their box on page"),
    Case("typed-signature-in-box", drawn_in_box("/FreeText"), INDET, "SIG_CONSTRAINTS_FAILURE",
         "the customer typed a signature in their box on page"),
    Case("stamp-in-box", drawn_in_box("/Stamp"), INDET, "SIG_CONSTRAINTS_FAILURE", "ask for a digital signature"),
    Case("ink-over-the-text", ink_over_text, FAILED, "FORMAT_FAILURE",
         "an ink annotation (a drawing) (object"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue(case: Case, kit: Kit, verifier: Verifier) -> None:
    data = case.build(kit)
    report = verifier.verify_bytes(data, f"{case.id}.pdf")
    problems = "\n".join(report.problems)
    assert (report.indication, report.sub_indication) == (case.indication, case.sub_indication), problems
    assert report.problems, "a verdict without a sentence"
    assert all(p.strip() and "\n" not in p and "Traceback" not in p for p in report.problems)
    assert case.says.lower() in problems.lower(), problems
    assert report.effective_date is None


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 69
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_good_agreement_passes(kit: Kit, verifier: Verifier) -> None:
    """The baseline of the catalogue: the untouched agreement passes, so every failure above is the tamper's."""
    report = verifier.verify_bytes(kit.good.full, "good.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete


def test_validation_data_after_signing_is_allowed(kit: Kit, verifier: Verifier) -> None:
    """A DSS added after both signatures (what B-LT does) changes nothing in the verdict."""
    crl = tamper.crl_revoking(kit.pki.ca, tamper.issue_cert(kit.pki.ca, "Iemand anders"), dt.datetime.now(UTC))
    data = tamper.incremental(kit.good.full, tamper.add_dss_crl(crl))
    report = verifier.verify_bytes(data, "with-dss.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.pades_level == "B-LT"
    assert report.complete and report.effective_date is not None


def test_form_defaults_added_where_there_were_none_are_allowed(kit: Kit, verifier: Verifier) -> None:
    """PDFBox-based signers add /DR and /DA to a form of signature fields: nothing shown changes, so it passes
    (adding them for a text field is the catalogue's acroform-defaults-for-a-text-field)."""

    def add_defaults(writer: tamper.IncrementalPdfFileWriter) -> None:
        tamper.acroform_edit("/DR", tamper.generic.DictionaryObject())(writer)
        tamper.acroform_edit("/DA", tamper.pdf_string("/Helv 0 Tf 0 g"))(writer)

    report = verifier.verify_bytes(tamper.incremental(kit.good.full, add_defaults), "defaults.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete and report.effective_date is not None


def test_deeply_nested_file_reader_does_not_crash_the_worker(kit: Kit, verifier: Verifier) -> None:
    """After the nesting cases the same (warm) worker still verifies good files."""
    bad = tamper.root_with(kit.good.full, b"/Nest " + tamper.nested(200_000))
    assert verifier.verify_bytes(bad, "nest.pdf").indication == TOTAL_FAILED
    assert verifier.verify_bytes(kit.good.full, "good.pdf").indication == TOTAL_PASSED
