"""What ingest checks in a returned file itself, against the issued file, beyond the verifier's verdict.

Three things, each read from the bytes and never from field names:

* the returned file continues the issued one: its cross-reference sections lead back (``/Prev``) through every
  section of the issued file, so a reader of the returned file still sees the issued document underneath;
* ipcall.me's signature in it is the issued one: a signature with exactly the issued ``/ByteRange`` and
  ``/Contents`` (read from the issued bytes);
* exactly one other signature (document timestamps aside) completes it, and its certificate is not a processor
  certificate (``[verify] processor_certificates``, or the issued signature's own) — ipcall.me's key can never
  stand in for the customer.

The certificate details legal needs to decide whether that signer is the customer come back as
:class:`ControllerSigner`. Anything the PDF libraries cannot read is a refusal, never an acceptance.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

READ_ERRORS = (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError)
"""What pyHanko and asn1crypto raise on input they cannot read."""


@dataclass(frozen=True)
class ControllerSigner:
    """Who completed the agreement, as their certificate says."""

    subject: str
    """Subject DN (RFC 4514)."""
    organization: str | None
    emails: tuple[str, ...]
    """E-mail addresses from the subject and the SubjectAltName."""
    certificate_sha256: str


@dataclass(frozen=True)
class ReturnCheck:
    """The outcome of :func:`check_return`: a refusal in words, or the controller's signer."""

    refusal: str | None
    controller: ControllerSigner | None = None


def check_return(issued: bytes, returned: bytes, processor_certs: Sequence[asn1_x509.Certificate]) -> ReturnCheck:
    """Check ``returned`` against ``issued`` as described in the module docstring."""
    try:
        issued_reader = PdfFileReader(io.BytesIO(issued), strict=True)
        issued_signatures = list(issued_reader.embedded_signatures)
        issued_history = _history(issued_reader)
    except READ_ERRORS as exc:
        return ReturnCheck(f"the issued file cannot be read to compare with ({type(exc).__name__}: {exc})")
    if len(issued_signatures) != 1:
        return ReturnCheck(
            f"the issued file carries {len(issued_signatures)} signatures instead of ipcall.me's one; it cannot "
            "vouch for the returned file"
        )
    processor = issued_signatures[0]
    try:
        reader = PdfFileReader(io.BytesIO(returned), strict=False)
        history = _history(reader)
        signatures = list(reader.embedded_signatures)
        refusal = _continues(history, issued_history) or _issued_signature_present(signatures, processor)
        if refusal:
            return ReturnCheck(refusal)
        return _controller(signatures, processor, processor_certs)
    except READ_ERRORS as exc:
        return ReturnCheck(f"the returned file cannot be read for the evidence checks ({type(exc).__name__}: {exc})")


def _history(reader: PdfFileReader) -> list[int]:
    """Where each revision's cross-reference section starts, oldest first, as the chain of /Prev gives them."""
    return [reader.xrefs.get_startxref_for_revision(r) for r in range(reader.xrefs.total_revisions)]


def _continues(history: list[int], issued_history: list[int]) -> str | None:
    """Why the returned file's revisions do not continue the issued file's, or None."""
    if len(history) > len(issued_history) and history[: len(issued_history)] == issued_history:
        return None
    return (
        "the returned file does not continue the issued agreement: its cross-reference sections do not lead back "
        "(/Prev) to the issued file's, so what a reader sees is a replacement written after the issued bytes, not "
        "the issued agreement with a counter-signature"
    )


def _signature_id(signature: EmbeddedPdfSignature) -> tuple[tuple[int, ...], bytes]:
    return tuple(int(v) for v in signature.sig_object["/ByteRange"]), signature.pkcs7_content


def _issued_signature_present(signatures: list[EmbeddedPdfSignature], processor: EmbeddedPdfSignature) -> str | None:
    wanted = _signature_id(processor)
    if any(_signature_id(s) == wanted for s in signatures):
        return None
    return (
        "ipcall.me's signature in the returned file is not the one that was issued: no signature in it has the "
        "issued signature's /ByteRange and /Contents"
    )


def _controller(
    signatures: list[EmbeddedPdfSignature],
    processor: EmbeddedPdfSignature,
    processor_certs: Sequence[asn1_x509.Certificate],
) -> ReturnCheck:
    issued_id = _signature_id(processor)
    others = [s for s in signatures if _signature_id(s) != issued_id and s.sig_object_type != "/DocTimeStamp"]
    if len(others) != 1:
        return ReturnCheck(
            f"the returned file carries {len(others)} signatures besides ipcall.me's; a completed agreement has "
            "exactly one, the customer's"
        )
    cert = others[0].signer_cert
    signer = _describe(cert)
    if any(_same_holder(cert, known) for known in (*processor_certs, processor.signer_cert)):
        return ReturnCheck(
            f"the customer's signature was made with ipcall.me's own certificate ({signer.subject}): a processor "
            "certificate can never sign for the controller, so the customer has not signed"
        )
    return ReturnCheck(None, signer)


def _same_holder(a: asn1_x509.Certificate, b: asn1_x509.Certificate) -> bool:
    """The same certificate, or another certificate for the same key."""
    return bool(a.dump() == b.dump() or a.public_key.dump() == b.public_key.dump())


def _describe(cert: asn1_x509.Certificate) -> ControllerSigner:
    parsed = x509.load_der_x509_certificate(cert.dump())
    organizations = [str(a.value) for a in parsed.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    emails = [str(a.value) for a in parsed.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)]
    try:
        alt_names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails += [str(e) for e in alt_names.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        pass
    return ControllerSigner(
        subject=parsed.subject.rfc4514_string(),
        organization=" / ".join(organizations) or None,
        emails=tuple(emails),
        certificate_sha256=hashlib.sha256(cert.dump()).hexdigest(),
    )
