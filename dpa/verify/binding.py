"""What ties a signing-page certificate to one agreement, and a signature to its evidence: dpa's two private OIDs.

dpa's object identifiers live under a UUID arc (ITU-T X.667, ``2.25.<uuid>``), which needs no registration:

``2.25.31242379698864790447376798448286399309.1`` — **agreement binding**, a non-critical certificate extension
    in every certificate of the customer-signing CA::

        AgreementBinding ::= SEQUENCE {
            customerId    UTF8String,     -- the agreement's customer id, as in the register and the PDF metadata
            issuedSha256  OCTET STRING }  -- SHA-256 of the issued file (32 bytes): the one document it may sign

    The certificate may sign only the agreement whose issued file has that hash (the bytes the customer's
    incremental update extends). Non-critical, so that other validators (pdfsig, Acrobat) still accept the
    certificate; dpa's verifier checks it (:func:`binding_problem`).

``2.25.31242379698864790447376798448286399309.2`` — **evidence head**, a CMS signed attribute of a signature made
    on the signing page: ``EvidenceHead ::= OCTET STRING`` (32 bytes), the hash of the newest register event for
    the agreement when the browser signed (:mod:`dpa.portal.evidence`).

It lives in :mod:`dpa.verify` (which the portal layer sits above) and needs only asn1crypto and cryptography:
the portal writes both, the verifier reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import cms, core
from cryptography import x509

DPA_OID_ARC = "2.25.31242379698864790447376798448286399309"
AGREEMENT_BINDING_OID = f"{DPA_OID_ARC}.1"
EVIDENCE_HEAD_OID = f"{DPA_OID_ARC}.2"


class BindingError(ValueError):
    """A binding extension or evidence attribute is present but malformed (a verifier must fail closed)."""


class _AgreementBindingAsn1(core.Sequence):  # type: ignore[misc]
    """``AgreementBinding`` as asn1crypto declares it."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [("customer_id", core.UTF8String), ("issued_sha256", core.OctetString)]


@dataclass(frozen=True)
class AgreementBinding:
    """The one agreement a certificate may sign."""

    customer_id: str
    issued_sha256: str
    """Hex SHA-256 of the issued file."""

    def der(self) -> bytes:
        """The extension's value (DER of ``AgreementBinding``)."""
        digest = bytes.fromhex(self.issued_sha256)
        if len(digest) != 32:
            raise ValueError("issued_sha256 must be a SHA-256 digest")
        encoded: bytes = _AgreementBindingAsn1({"customer_id": self.customer_id, "issued_sha256": digest}).dump()
        return encoded

    @classmethod
    def from_der(cls, data: bytes) -> AgreementBinding:
        """Parse the extension's value; :class:`BindingError` when it is not a well-formed ``AgreementBinding``."""
        try:
            parsed = _AgreementBindingAsn1.load(data, strict=True)
            customer_id = parsed["customer_id"].native
            digest = parsed["issued_sha256"].native
        except (ValueError, TypeError) as exc:
            raise BindingError(f"the agreement binding of the certificate is malformed ({exc})") from None
        if not isinstance(customer_id, str) or not isinstance(digest, bytes) or len(digest) != 32:
            raise BindingError("the agreement binding of the certificate is malformed")
        return cls(customer_id, digest.hex())


def read_binding(certificate: x509.Certificate) -> AgreementBinding | None:
    """The certificate's agreement binding, or ``None`` when it has none (not made by the signing page)."""
    try:
        extension = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(AGREEMENT_BINDING_OID))
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    if not isinstance(value, x509.UnrecognizedExtension):  # pragma: no cover - cryptography knows no such OID
        raise BindingError("unexpected agreement binding extension type")
    return AgreementBinding.from_der(value.value)


def binding_problem(certificate: x509.Certificate, issued_sha256: str, *, required: bool) -> str | None:
    """Why ``certificate`` may not sign the agreement issued with hash ``issued_sha256``, or ``None`` when it may.

    ``required``: the certificate comes from the customer-signing CA, so it must carry a binding.
    """
    try:
        binding = read_binding(certificate)
    except BindingError as exc:
        return str(exc)
    if binding is None:
        return "the signing-page certificate names no agreement it may sign" if required else None
    if binding.issued_sha256 != issued_sha256.lower():
        return (
            f"the signing-page certificate was issued to sign another agreement (customer {binding.customer_id}, "
            f"issued file {binding.issued_sha256[:16]}…), not this one"
        )
    return None


def evidence_head_attribute(head: str) -> cms.CMSAttribute:
    """The signed attribute that carries the evidence head ``head`` (hex SHA-256)."""
    value = bytes.fromhex(head)
    if len(value) != 32:
        raise ValueError("an evidence head is a SHA-256 digest")
    return cms.CMSAttribute({"type": EVIDENCE_HEAD_OID, "values": [core.OctetString(value)]})


def read_evidence_head(signed_attrs: cms.CMSAttributes) -> str | None:
    """The evidence head in a signature's signed attributes (hex), or ``None`` when it carries none."""
    for attribute in signed_attrs:
        if attribute["type"].dotted == EVIDENCE_HEAD_OID:
            values = attribute["values"]
            if len(values) != 1:
                raise BindingError("the evidence head attribute must have exactly one value")
            try:
                raw = core.OctetString.load(values[0].dump()).native
            except (ValueError, TypeError) as exc:
                raise BindingError(f"the evidence head attribute is malformed ({exc})") from None
            if not isinstance(raw, bytes) or len(raw) != 32:
                raise BindingError("the evidence head attribute is not a SHA-256 digest")
            return raw.hex()
    return None
