"""The controller's signature made with a key in the browser: pyHanko's interrupted signing, in two halves.

:func:`prepare_signature` fills the issued agreement's ``controller_signature`` field with a placeholder (the
visible appearance names the signatory), computes the ``/ByteRange`` digest and the CMS signed attributes
(content-type, message-digest, signing-certificate-v2 and dpa's evidence head, :mod:`dpa.portal.binding`). Their
DER is what the browser signs (WebCrypto ``{name: "ECDSA", hash: "SHA-256"}``). :func:`finish_signature` turns the
browser's raw ``r ‖ s`` into DER, checks it against the certificate's key, adds the RFC 3161 signature timestamp
(the configured TSAs, :class:`~dpa.signing.timestamps.DpaTimeStamper`) and writes the CMS into the placeholder:
an incremental update of the issued bytes, as every controller signature. The signature's revision also holds the
validation data of both chains (the customer-signing CA's CRL, served by ``dpa serve``, and the TSA's): PAdES
B-LT like every other dpa signature.

Between the halves the state lives in the register (``portal_pending``), bound to the browser session that
prepared it (:func:`save_pending`, :func:`load_pending`): the prepared PDF, the digest and the signed attributes.
None of it is secret, and none of it is a key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import io
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError as HankoSigningError
from pyhanko.sign.signers import ExternalSigner, PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_byterange import BuildProps, PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, PdfTBSDocument, SigDSSPlacementPreference
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

import dpa
from dpa.errors import DpaError, SigningError
from dpa.portal.binding import EVIDENCE_HEAD_OID
from dpa.portal.ca import raw_to_der_signature, verify_browser_signature
from dpa.portal.errors import SessionMismatch, SignatureRefused, StepOutOfOrder
from dpa.portal.invitations import Client, Invitation, iso
from dpa.roles import CONTROLLER
from dpa.signing.appearance import appearance_text_params, covers, stamp_style
from dpa.signing.document import DpaUpdateWriter, check_can_sign
from dpa.signing.keys import PadesSignedAttributes
from dpa.signing.timestamps import DpaTimeStamper, TimestampInfo

ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
PLACEHOLDER_SIGNATURE = bytes(72)
"""Room for the largest DER ECDSA P-256 signature during pyHanko's size estimate."""


@dataclass(frozen=True)
class PendingSignature:
    """A prepared signature waiting for the browser: everything :func:`finish_signature` needs but the signature."""

    prepared_pdf: bytes
    document_digest: bytes
    reserved_start: int
    reserved_end: int
    signed_attributes: bytes
    """DER of the CMS signed attributes: what the browser signs."""
    evidence_head: str


class _EvidenceHead(CMSAttributeProvider):
    attribute_type = EVIDENCE_HEAD_OID

    def __init__(self, head: str) -> None:
        self._value = cms.OctetString(bytes.fromhex(head))

    async def build_attr_value(self, dry_run: bool = False) -> object:
        return self._value


class _PortalSignedAttributes(SignedAttributeProviderSpec):
    """signing-certificate-v2 (as every dpa signature) and the evidence head."""

    def __init__(self, certificate: asn1_x509.Certificate, evidence_head: str) -> None:
        self._pades = PadesSignedAttributes(certificate)
        self._head = _EvidenceHead(evidence_head)

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str) -> Iterator[CMSAttributeProvider]:
        """Yield the PAdES attributes, then the evidence head."""
        yield from self._pades.signed_attr_providers(data_digest, digest_algorithm)
        yield self._head


def _external_signer(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], signature: bytes, evidence_head: str
) -> ExternalSigner:
    asn1_cert = translate_pyca_cryptography_cert_to_asn1(certificate)
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    registry.register_multiple([asn1_cert, *(translate_pyca_cryptography_cert_to_asn1(c) for c in chain)])
    signer = ExternalSigner(asn1_cert, registry, signature_value=signature, signature_mechanism=ECDSA_SHA256)
    signer.signed_attr_prov_spec = _PortalSignedAttributes(asn1_cert, evidence_head)
    return signer


def prepare_signature(
    issued_pdf: bytes,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    timestamper: DpaTimeStamper,
    *,
    evidence_head: str,
    font_path: Path,
    now: dt.datetime,
    validation_context: ValidationContext | None = None,
) -> PendingSignature:
    """Prepare the controller's signature on ``issued_pdf`` for the browser key certified by ``certificate``.

    With ``validation_context`` (:meth:`dpa.signing.ltv.RevocationFetcher.plan`'s, with the CRLs it fetched) the
    certificates and CRLs of the signer's and the TSA's chains go into the DSS of the signature's own revision
    (PAdES B-LT), as :mod:`dpa.signing.sign` does for every other signature."""
    field = check_can_sign(issued_pdf, CONTROLLER.role, "the issued agreement")
    name = _attribute(certificate, x509.NameOID.COMMON_NAME)
    params = appearance_text_params(name, _attribute(certificate, x509.NameOID.ORGANIZATION_NAME), CONTROLLER.role, now)
    meta = PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=CONTROLLER.stamp,
        app_build_props=BuildProps(name="dpa", revision=dpa.__version__),
        embed_validation_info=validation_context is not None,
        validation_context=validation_context,
        signer_key_usage=set(),
        dss_settings=DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False),
    )
    signer = _external_signer(certificate, chain, PLACEHOLDER_SIGNATURE, evidence_head)
    style = stamp_style(font_path, presubset=covers("".join(params.values())))
    pdf_signer = PdfSigner(meta, signer, timestamper=timestamper, stamp_style=style)

    async def digest_and_attributes() -> tuple[PreparedByteRangeDigest, cms.CMSAttributes, bytes]:
        writer = DpaUpdateWriter(issued_pdf)  # as dpa.signing.sign: metadata untouched, numbers from /Size
        output = io.BytesIO()
        prepared, _tbs, _output = await pdf_signer.async_digest_doc_for_signing(
            writer, existing_fields_only=True, appearance_text_params=params, output=output
        )
        attributes = await signer.signed_attrs(prepared.document_digest, "sha256", use_pades=True)
        return prepared, attributes, output.getvalue()

    try:
        prepared, attributes, pdf = asyncio.run(digest_and_attributes())
    except DpaError:
        raise
    except (HankoSigningError, PdfError) as exc:
        raise SigningError(f"pyHanko could not prepare the signature: {exc}") from exc
    if not pdf.startswith(issued_pdf):  # pragma: no cover - pyHanko always appends
        raise SigningError("preparing the signature did not produce an incremental update")
    return PendingSignature(
        prepared_pdf=pdf,
        document_digest=prepared.document_digest,
        reserved_start=prepared.reserved_region_start,
        reserved_end=prepared.reserved_region_end,
        signed_attributes=attributes.dump(),
        evidence_head=evidence_head,
    )


def finish_signature(
    pending: PendingSignature,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    raw_signature: bytes,
    timestamper: DpaTimeStamper,
) -> tuple[bytes, TimestampInfo]:
    """Embed the browser's signature (raw ``r ‖ s``) with a signature timestamp; returns the signed PDF and the
    timestamp. :class:`SignatureRefused` when the signature is not the certificate key's over the signed attributes."""
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not verify_browser_signature(
        public_key, pending.signed_attributes, raw_signature
    ):
        raise SignatureRefused(
            "the browser's signature does not belong to the prepared document and its certificate; nothing was signed"
        )
    der = raw_to_der_signature(raw_signature)
    signer = _external_signer(certificate, chain, der, pending.evidence_head)
    digest = PreparedByteRangeDigest(pending.document_digest, pending.reserved_start, pending.reserved_end)
    timestamper.last = None

    async def embed() -> bytes:
        attributes = cms.CMSAttributes.load(pending.signed_attributes)
        signature_cms = await signer.async_sign_prescribed_attributes("sha256", attributes, timestamper=timestamper)
        output = io.BytesIO(pending.prepared_pdf)
        await PdfTBSDocument.async_finish_signing(output, digest, signature_cms)
        return output.getvalue()

    try:
        signed = asyncio.run(embed())
    except DpaError:
        raise
    except (HankoSigningError, PdfError) as exc:
        raise SigningError(f"pyHanko could not finish the signature: {exc}") from exc
    stamp = timestamper.last
    if stamp is None:  # pragma: no cover - the timestamper raises rather than return nothing
        raise SigningError("the signature got no timestamp; nothing was signed")
    return signed, stamp


# --- the pending state in the register ---------------------------------------------------------------------------

_PENDING_COLUMNS = (
    "prepared_pdf, document_digest, reserved_start, reserved_end, signed_attributes, evidence_head, serial, "
    "session_sha256"
)


def save_pending(
    db: sqlite3.Connection,
    invitation: Invitation,
    client: Client,
    serial: str,
    pending: PendingSignature,
    now: dt.datetime,
) -> None:
    """Keep ``pending`` for ``invitation``, bound to ``client``'s session (replacing an earlier one)."""
    db.execute("DELETE FROM portal_pending WHERE invitation_id = ?", (invitation.id,))
    db.execute(
        f"INSERT INTO portal_pending (invitation_id, created_at, {_PENDING_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            invitation.id,
            iso(now),
            pending.prepared_pdf,
            pending.document_digest,
            pending.reserved_start,
            pending.reserved_end,
            pending.signed_attributes,
            pending.evidence_head,
            serial,
            client.session_hash,
        ),
    )


def load_pending(db: sqlite3.Connection, invitation: Invitation, client: Client) -> tuple[PendingSignature, str]:
    """The signature prepared for ``invitation`` and its certificate serial, if ``client``'s session prepared it."""
    row = db.execute(
        f"SELECT {_PENDING_COLUMNS} FROM portal_pending WHERE invitation_id = ?", (invitation.id,)
    ).fetchone()
    if row is None:
        raise StepOutOfOrder("no signature has been prepared for this link; prepare it first")
    if not hmac.compare_digest(row["session_sha256"], client.session_hash):
        raise SessionMismatch("this signature was started in another browser session; it can be finished only there")
    pending = PendingSignature(
        prepared_pdf=bytes(row["prepared_pdf"]),
        document_digest=bytes(row["document_digest"]),
        reserved_start=int(row["reserved_start"]),
        reserved_end=int(row["reserved_end"]),
        signed_attributes=bytes(row["signed_attributes"]),
        evidence_head=str(row["evidence_head"]),
    )
    return pending, str(row["serial"])


def clear_pending(db: sqlite3.Connection, invitation: Invitation) -> None:
    """Forget the prepared signature of ``invitation``."""
    db.execute("DELETE FROM portal_pending WHERE invitation_id = ?", (invitation.id,))


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""
