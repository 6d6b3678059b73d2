"""The trust layer: certificate paths, roots, key usage, TSA certificates, and roles bound to certificates.

* Signers chain to ``[trust] roots`` (``--trust``); timestamp authorities to ``[trust] tsa_roots`` (``--trust-tsa``)
  only, so a customer's CA trusted for its signatures can never mint timestamps.
* Every certificate of a path, the trust root and intermediates included, must be valid at the moment the path is
  validated for (a signer's: its trusted timestamp's genTime), as ETSI validates past signatures.
* A signer's key usage allows signing; an extended key usage, when present, allows document signing or e-mail
  protection. A TSA certificate is an end entity with a critical extended key usage of timeStamping alone.
* A certificate from a look-alike CA (a trusted CA's name, another key) "does not chain to a configured root".
* Roles are bound to certificates: a processor certificate never fills the controller's field, a complete agreement
  has two different signers, and a controller certificate whose subject imitates ipcall.me's is named in words.
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from asn1crypto import x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.general import MultivaluedAttributeError, NonexistentAttributeError, find_unique_cms_attribute
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager

from dpa.verify.effective_date import amsterdam_text
from dpa.verify.explain import escape
from dpa.verify.findings import DocumentContext, SigState

SIGNING_EKUS = frozenset(
    {
        "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning (RFC 9336)
        "1.3.6.1.5.5.7.3.4",  # id-kp-emailProtection
        "1.2.840.113583.1.1.5",  # Adobe Authentic Documents Trust
        "1.3.6.1.4.1.311.10.3.12",  # Microsoft document signing
        "2.5.29.37.0",  # anyExtendedKeyUsage
    }
)
"""Extended key usages that allow signing a document (serverAuth or clientAuth alone do not)."""
TIME_STAMPING_EKU = "1.3.6.1.5.5.7.3.8"
CHAIN_PROBLEMS = frozenset({"CERTIFICATE_CHAIN_GENERAL_FAILURE", "CHAIN_CONSTRAINTS_FAILURE"})


class TrustAnchors:
    """The trust lists of a run, each with its own trust manager (built once).

    ``signing_cas`` (``[signing_ca] cert``) are roots for signers' paths only, never for timestamps, and dropped from
    the other lists when they are configured there too: :func:`dpa.verify.roles_check.check_signing_ca` allows a
    path through them only for the controller's signature on the agreement the certificate names.
    """

    def __init__(
        self,
        signer_roots: Sequence[x509.Certificate],
        tsa_roots: Sequence[x509.Certificate],
        signing_cas: Sequence[x509.Certificate] = (),
    ) -> None:
        self.signing_ca_keys = frozenset(ca.public_key.dump() for ca in signing_cas)
        general = [root for root in signer_roots if root.public_key.dump() not in self.signing_ca_keys]
        self.signer_manager = SimpleTrustManager.build(trust_roots=[*general, *signing_cas])
        self.tsa_manager = SimpleTrustManager.build(
            trust_roots=[root for root in tsa_roots if root.public_key.dump() not in self.signing_ca_keys]
        )

    def via_signing_ca(self, path: ValidationPath | None) -> bool:
        """Whether a certificate of ``path`` (the root included) carries a customer-signing CA's key."""
        if path is None or not self.signing_ca_keys:
            return False
        try:
            certs = list(path.iter_certs(include_root=True))
        except (ValueError, LookupError):
            return False
        return any(
            isinstance(cert, x509.Certificate) and cert.public_key.dump() in self.signing_ca_keys for cert in certs
        )

    def tsa_context(self, moment: dt.datetime | None) -> ValidationContext:
        """A context for timestamp tokens: ``[trust] tsa_roots`` only, offline, at ``moment`` (``None``: now)."""
        return ValidationContext(
            trust_manager=self.tsa_manager, moment=moment, allow_fetching=False, revocation_mode="soft-fail"
        )

    def signer_context(
        self,
        doc: DocumentContext,
        moment: dt.datetime,
        extra: Iterable[x509.Certificate],
        signed_attrs: Any = None,
    ) -> ValidationContext:
        """The signer's path at ``moment`` (its trusted time), offline, with the revocation data the file embeds: the
        DSS's, and the signature's own (Adobe's revocation-information attribute among ``signed_attrs``, as Acrobat
        writes it with "LTV")."""
        crls, ocsps = archived_revocation_info(signed_attrs)
        return ValidationContext(
            trust_manager=self.signer_manager,
            certificate_registry=CertificateRegistry.build([*doc.dss_certs, *extra]),
            moment=moment,
            allow_fetching=False,
            revinfo_policy=revocation_policy(),
            crls=[*doc.crls, *crls],
            ocsps=[*doc.ocsps, *ocsps],
        )


def archived_revocation_info(signed_attrs: Any) -> tuple[list[Any], list[Any]]:
    """The CRLs and OCSP responses of a signature's ``adobe_revocation_info_archival`` signed attribute (none when it
    has no such attribute, or more than one)."""
    if signed_attrs is None:
        return [], []
    try:
        archival = find_unique_cms_attribute(signed_attrs, "adobe_revocation_info_archival")
    except (NonexistentAttributeError, MultivaluedAttributeError):
        return [], []
    crls = list(archival["crl"]) if archival["crl"].native is not None else []
    ocsps = list(archival["ocsp"]) if archival["ocsp"].native is not None else []
    return crls, ocsps


def revocation_policy() -> CertRevTrustPolicy:
    """How revocation is checked: only with what the file carries, and missing data never counts as "not revoked".

    The signer's certificate needs a CRL or OCSP response in the file (its DSS or the signature's own revocation
    attribute) showing it was not revoked before the signature's proof of existence; without one pyHanko's answer is
    INDETERMINATE/TRY_LATER ("revocation not checked"), which ``dpa ingest`` resolves by fetching what is missing
    before it seals the file (DESIGN.md §6 "Offline", §12). A CA certificate that names where its status is
    published must be covered as well. Revocation entries count from their revocation date, and data fetched after
    the signature (at ingest or an extension) counts for the signature's time (retroactive revocation information).
    """
    return CertRevTrustPolicy(
        RevocationCheckingPolicy(
            ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
            intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
        ),
        retroactive_revinfo=True,
    )


def dn(cert: x509.Certificate) -> str:
    """The subject as an escaped RFC 4514 string (CN=…,O=…,C=NL)."""
    try:
        text = pyca_x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    except (ValueError, TypeError):
        text = str(cert.subject.human_friendly)
    return escape(text)


def _validity(cert: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native, validity["not_after"].native


def check_validity_at(
    state: SigState, cert: x509.Certificate, moment: dt.datetime, what: str, when: str = "the timestamp's time"
) -> None:
    """notBefore ≤ moment ≤ notAfter, with the exact ETSI sub-indications; ``when`` names the moment in words."""
    not_before, not_after = _validity(cert)
    if moment < not_before:
        state.add(
            AdESFailure.NOT_YET_VALID,
            f"{what} was not yet valid at {when} {amsterdam_text(moment)} (valid from {amsterdam_text(not_before)})",
        )
    elif moment > not_after:
        state.add(
            AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
            f"{what} had expired at {when} {amsterdam_text(moment)} (valid until {amsterdam_text(not_after)})",
        )


def path_validity_problem(path: ValidationPath | None, moment: dt.datetime, what: str) -> str | None:
    """A sentence when a CA certificate of ``path`` (the root included) is not valid at ``moment``."""
    if path is None:
        return None
    try:
        certs = [c for c in path.iter_certs(include_root=True) if isinstance(c, x509.Certificate)]
    except (ValueError, LookupError):
        return None
    leaf = path.leaf
    for cert in certs:
        if isinstance(leaf, x509.Certificate) and cert.dump() == leaf.dump():
            continue
        not_before, not_after = _validity(cert)
        if not not_before <= moment <= not_after:
            state = "not yet valid" if moment < not_before else "expired"
            return (
                f"the CA certificate {dn(cert)} in the chain of {what} was {state} at {amsterdam_text(moment)} "
                f"(valid {amsterdam_text(not_before)} to {amsterdam_text(not_after)})"
            )
    return None


def signer_eku_problem(cert: x509.Certificate) -> str | None:
    """A sentence when the signer's extended key usage (if present) does not allow signing documents."""
    ekus = cert.extended_key_usage_value
    if ekus is None:
        return None
    dotted = {eku.dotted for eku in ekus}
    if dotted & SIGNING_EKUS:
        return None
    names = ", ".join(sorted(str(eku.native) for eku in ekus))
    return (
        f"the signer's certificate may not be used to sign documents: its extended key usage allows only {names} "
        "(document signing or e-mail protection is needed)"
    )


def tsa_certificate_problem(cert: x509.Certificate) -> str | None:
    """A sentence when a TSA certificate is not an end entity with a critical EKU of timeStamping alone."""
    constraints = cert.basic_constraints_value
    if constraints is not None and constraints["ca"].native:
        return f"the timestamp authority's certificate ({dn(cert)}) is a CA certificate, not a timestamp authority's"
    ekus = cert.extended_key_usage_value
    critical = "extended_key_usage" in cert.critical_extensions
    if ekus is None or not critical or {e.dotted for e in ekus} != {TIME_STAMPING_EKU}:
        return (
            f"the timestamp authority's certificate ({dn(cert)}) does not carry a critical extended key usage of "
            "timeStamping alone (RFC 3161 §2.3)"
        )
    return None


async def missing_revocation_status(
    indic: AdESSubIndic | None, context: ValidationContext, cert: x509.Certificate
) -> bool:
    """Whether a general chain failure is really "revocation not checked": the first problem on the path is that the
    file carries no usable CRL or OCSP response for a certificate on it (pyHanko reports its
    ``InsufficientRevinfoError`` as a general chain failure; ETSI calls it INDETERMINATE/TRY_LATER). Checks below that
    point of the path have not run yet: the sealed copy ingest judges, with the data fetched, shows any later
    problem. Asked again of the same context, only on failure.
    """
    if indic is None or str(indic.standard_name) != "CERTIFICATE_CHAIN_GENERAL_FAILURE":
        return False
    try:
        await CertificateValidator(cert, validation_context=context).async_validate_path()
    except InsufficientRevinfoError:
        return True
    except Exception:  # any other path problem: the general failure stands
        return False
    return False


async def look_alike_chain(indic: AdESSubIndic | None, context: ValidationContext, cert: x509.Certificate) -> bool:
    """Whether a chain problem is really "no chain": no path to a trust root verifies cryptographically.

    A certificate issued by a look-alike CA (same name as a trusted root, another key) or a self-signed copy of a
    trusted certificate gets a path by name from pyHanko, which then fails on the signature; ETSI calls that
    NO_CERTIFICATE_CHAIN_FOUND, and so does dpa.
    """
    if indic is None or str(indic.standard_name) not in CHAIN_PROBLEMS:
        return False
    try:
        paths = await context.path_builder.async_build_paths(cert)
    except Exception:  # PathBuildingError and friends: there is no path at all
        return True
    for path in paths:
        try:
            certs = [pyca_x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)]
        except (ValueError, LookupError):
            continue
        if all(_issued_by(issuer, subject) for issuer, subject in itertools.pairwise(certs)):
            return False
    return True


def describe_trust_problem(
    state: SigState,
    status: Any,
    what: str,
    moment: dt.datetime | None,
    look_alike: bool = False,
    no_revocation_status: bool = False,
) -> None:
    """pyHanko's verdict on a certificate path, in words, with its ETSI sub-indication; ``no_revocation_status``
    (:func:`missing_revocation_status`) turns a general chain failure into TRY_LATER."""
    indic = status.trust_problem_indic
    if indic is None:
        return
    if no_revocation_status:
        state.add(
            AdESIndeterminate.TRY_LATER,
            f"revocation not checked: the file carries no CRL or OCSP response that establishes the status of {what}"
            f"{' at ' + amsterdam_text(moment) if moment is not None else ''} (dpa ingest adds it from the CA's "
            "own address)",
        )
        return
    if look_alike:
        state.add(
            AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
            f"{what} does not chain to a configured root (a trust root in [trust] roots or --trust): no certificate "
            "in its chain was really issued by a trusted CA (at most it carries a trusted CA's name)",
        )
        return
    name = str(indic.standard_name)
    if name in ("OUT_OF_BOUNDS_NO_POE", "NOT_YET_VALID", "EXPIRED") and state.has(
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESFailure.NOT_YET_VALID
    ):
        return  # already said precisely by check_validity_at
    if name == "REVOKED_NO_POE" and _revoked_before(status, moment):
        indic = AdESFailure.REVOKED  # revoked before the signature's proof of existence: ETSI's TOTAL_FAILED
    state.add(indic, _trust_sentence(name, status, what, moment))


def _revoked_before(status: Any, moment: dt.datetime | None) -> bool:
    details = getattr(status, "revocation_details", None)
    revoked = getattr(details, "revocation_date", None)
    return moment is not None and isinstance(revoked, dt.datetime) and revoked <= moment


def _trust_sentence(name: str, status: Any, what: str, moment: dt.datetime | None) -> str:
    when = f" at {amsterdam_text(moment)}" if moment is not None else ""
    details = getattr(status, "revocation_details", None)
    if name in ("REVOKED_NO_POE", "REVOKED_CA_NO_POE") and details is not None:
        whose = what if name == "REVOKED_NO_POE" else f"a CA certificate above {what}"
        return f"{whose} was revoked on {amsterdam_text(details.revocation_date)}" + (
            f", before the timestamp's time {amsterdam_text(moment)}" if moment is not None else ""
        )
    if name == "CHAIN_CONSTRAINTS_FAILURE" and what == "the signer's certificate":
        return f"{what} may not be used for signing (key usage)"
    sentences = {
        "NO_CERTIFICATE_CHAIN_FOUND": f"{what} does not chain to a configured root ([trust] roots, --trust)",
        "OUT_OF_BOUNDS_NO_POE": f"{what} was not valid{when} (outside its validity period)",
        "OUT_OF_BOUNDS_NOT_REVOKED": f"{what} was not valid{when} (outside its validity period)",
        "REVOKED_NO_POE": f"{what} was revoked before{when or ' the time of signing'}",
        "REVOKED_CA_NO_POE": f"a CA certificate above {what} was revoked",
        "CHAIN_CONSTRAINTS_FAILURE": f"{what} breaks the constraints of its chain (key usage, path length, …)",
        "CERTIFICATE_CHAIN_GENERAL_FAILURE": f"the chain of {what} is not valid{when}",
        "CRYPTO_CONSTRAINTS_FAILURE": f"{what} uses an algorithm that is no longer accepted",
    }
    return sentences.get(name, f"{what} cannot be validated ({name})")


def _issued_by(issuer: pyca_x509.Certificate, subject: pyca_x509.Certificate) -> bool:
    try:
        subject.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _normal(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def _names(cert: x509.Certificate) -> set[str]:
    subject = cert.subject.native
    values = [subject.get("organization_name"), subject.get("common_name")]
    found: set[str] = set()
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and _normal(item):
                found.add(_normal(item))
    return found


def imitates(cert: x509.Certificate, processor_certs: Iterable[x509.Certificate], processor_name: str) -> bool:
    """Whether ``cert``'s subject (O or CN) looks like ipcall.me's while it is not one of ipcall.me's certificates."""
    own = {_normal(processor_name)} if _normal(processor_name) else set()
    for processor in processor_certs:
        subject = processor.subject.native
        org = subject.get("organization_name")
        if isinstance(org, str) and _normal(org):
            own.add(_normal(org))
    return any(mark in name for name in _names(cert) for mark in own)


def same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    """Whether two certificates certify the same public key."""
    return bool(a.public_key.dump() == b.public_key.dump())


__all__ = [
    "TrustAnchors",
    "archived_revocation_info",
    "check_validity_at",
    "describe_trust_problem",
    "dn",
    "imitates",
    "look_alike_chain",
    "missing_revocation_status",
    "path_validity_problem",
    "revocation_policy",
    "same_key",
    "signer_eku_problem",
    "tsa_certificate_problem",
]
