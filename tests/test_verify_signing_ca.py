"""Issue 14, verify's part: the customer-signing CA (``[signing_ca] cert``) is trusted for controller signatures only.

Never as a TSA, never for the processor's field, never as a general root; and a certificate from it signs only the
agreement named in its binding extension (the issued file's SHA-256). The agreement is the real one (LibreOffice),
certified through SigningSession and the real ``dpa tsa serve``; the customer's certificate comes from the
development PKI's customer-signing CA (:class:`dpa.portal.ca.SigningCa`), its key is a P-256 "browser" key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import pytest
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps import TimeStamper

from dpa.config import Config, load_config
from dpa.devtools.certs import CertKey
from dpa.devtools.devpki import DevPki, issue_cert
from dpa.portal.ca import CertificateRequest, SigningCa
from dpa.roles import CONTROLLER, PROCESSOR
from dpa.signing.document import DpaUpdateWriter
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.binding import AgreementBinding
from dpa.verify.report import INDETERMINATE, TOTAL_PASSED, DocumentReport
from dpa.verify.verifier import Verifier
from tests import tamper
from tests.portal_support import browser
from tests.signing_support import build_test_agreement

pytestmark = pytest.mark.libreoffice

NOT_HERE = "trusted only for the customer's signature in the controller's field"


@pytest.fixture(scope="module")
def good(signing_config: Config, assembled_agreement: bytes) -> tamper.Signed:
    return tamper.sign_both(signing_config, assembled_agreement)


@pytest.fixture(scope="module")
def signing_ca(dev_pki: DevPki) -> Iterator[SigningCa]:
    ca = SigningCa.from_config(load_config(dev_pki.config_path))
    yield ca
    ca.close()


@pytest.fixture(scope="module")
def verifier(signing_config: Config) -> Iterator[Verifier]:
    """``[trust] roots`` and ``[signing_ca]`` as configured: no extra trust."""
    assert signing_config.signing_ca is not None
    with Verifier(signing_config) as v:
        yield v


def page_signer(ca: SigningCa, dev_pki: DevPki, issued: bytes, *, customer: str = "C-10001") -> CertKey:
    """A signing-page certificate (as the portal issues it) bound to the agreement whose issued file is ``issued``."""
    who = browser("verify-signing-ca")
    request = CertificateRequest(
        public_key=who.key.public_key(),
        binding=AgreementBinding(customer, hashlib.sha256(issued).hexdigest()),
        signatory_name="Marieke van den Berg",
        signatory_title="directeur",
        organization="Vechtdal B.V.",
        email="m.vandenberg@vechtdal.example",
        country="NL",
    )
    assert dev_pki.signing_ca is not None
    cert = ca.issue(request, dt.datetime.now(dt.UTC))
    return CertKey(cert, who.key, (dev_pki.signing_ca.cert,))


def sign(
    data: bytes, field: str, cert_key: CertKey, timestamper: TimeStamper | None, ca: SigningCa | None = None
) -> bytes:
    """Sign ``field`` as the signing page does (dpa's update writer keeps PDF 1.7 for a P-256 key); with ``ca``,
    its CRL goes into the DSS afterwards, as the signing page's B-LT signature carries it."""
    signer = tamper.simple_signer(cert_key)
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES)
    out = io.BytesIO()
    signers.PdfSigner(meta, signer, timestamper=timestamper).sign_pdf(DpaUpdateWriter(data), output=out)
    if ca is None:
        return out.getvalue()
    return tamper.incremental(out.getvalue(), tamper.add_dss_crl(ca.crl([], dt.datetime.now(dt.UTC))))


def controller(report: DocumentReport) -> tuple[str, str | None, tuple[str, ...]]:
    """The controller's signature: indication, sub-indication, problems."""
    (found,) = [s for s in report.signatures if s.field == CONTROLLER.field]
    return found.indication, found.sub_indication, found.problems


def test_signing_page_certificate_signs_its_own_agreement(
    good: tamper.Signed, signing_ca: SigningCa, dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    """The control: bound to this agreement's issued file, without extra trust — TOTAL_PASSED and complete."""
    stamper = timestamper_from_config(signing_config)
    signed = sign(good.half, CONTROLLER.field, page_signer(signing_ca, dev_pki, good.half), stamper, signing_ca)
    report = verifier.verify_bytes(signed, "eigen.pdf")
    assert (report.indication, report.complete) == (TOTAL_PASSED, True), report.to_json()
    assert controller(report)[:2] == (TOTAL_PASSED, None)


def test_signing_page_certificate_for_another_agreement_fails(
    good: tamper.Signed, signing_ca: SigningCa, dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    stamper = timestamper_from_config(signing_config)
    other = good.half + b"\n% another issued file\n"
    signed = sign(
        good.half, CONTROLLER.field, page_signer(signing_ca, dev_pki, other, customer="C-20002"), stamper, signing_ca
    )
    report = verifier.verify_bytes(signed, "ander.pdf")
    assert report.indication == INDETERMINATE and not report.complete and report.effective_date is None
    indication, sub, problems = controller(report)
    assert (indication, sub) == (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"), report.to_json()
    assert any("issued to sign another agreement (customer C-20002" in p for p in problems), problems
    (processor,) = [s for s in report.signatures if s.field == PROCESSOR.field]
    assert processor.indication == TOTAL_PASSED


def test_signing_page_certificate_in_the_processors_field_fails(
    signing_config: Config, assembled_agreement: bytes, signing_ca: SigningCa, dev_pki: DevPki, verifier: Verifier
) -> None:
    """Bound to the very file it signs, yet in the processor's field: that CA is no root for it."""
    stamper = timestamper_from_config(signing_config)
    forged = sign(
        assembled_agreement, PROCESSOR.field, page_signer(signing_ca, dev_pki, assembled_agreement), stamper, signing_ca
    )
    report = verifier.verify_bytes(forged, "verwerker.pdf")
    assert report.indication != TOTAL_PASSED and not report.complete, report.to_json()
    (processor,) = [s for s in report.signatures if s.field == PROCESSOR.field]
    assert processor.indication == INDETERMINATE
    assert any(NOT_HERE in p for p in processor.problems), processor.problems


def test_signing_page_ca_is_no_general_root(dev_pki: DevPki, signing_config: Config, signing_ca: SigningCa) -> None:
    """Even passed as ``--trust`` (or listed in ``[trust] roots``), it counts only for dpa's agreements: a PDF made
    elsewhere, signed in a field of the same name with a certificate bound to that very file, does not chain."""
    data = build_test_agreement()
    stamper = timestamper_from_config(signing_config)
    signed = sign(data, CONTROLLER.field, page_signer(signing_ca, dev_pki, data), stamper, signing_ca)
    assert signing_config.signing_ca is not None
    with Verifier(signing_config, extra_trust=[signing_config.signing_ca.cert]) as v:
        report = v.verify_bytes(signed, "elders.pdf")
    assert report.indication == INDETERMINATE and not report.made_by_dpa, report.to_json()
    (only,) = [s for s in report.signatures if s.field == CONTROLLER.field]
    assert only.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND" and any(NOT_HERE in p for p in only.problems)


def test_tsa_certificate_from_the_signing_page_ca_is_untrusted(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    """A TSA under the customer-signing CA cannot vouch for a time, even with that CA listed in tsa_roots."""
    assert dev_pki.signing_ca is not None and signing_config.signing_ca is not None
    own_tsa = issue_cert(dev_pki.signing_ca, "Ondertekenpagina TSA", profile="tsa")
    with tamper.local_tsa(own_tsa) as stamper:
        signed = tamper.pyhanko_sign(good.half, CONTROLLER.field, dev_pki.controller, stamper)
    with Verifier(signing_config, extra_tsa_trust=[signing_config.signing_ca.cert]) as listed:
        reports = [v.verify_bytes(signed, "eigen-tsa.pdf") for v in (verifier, listed)]
    for report in reports:
        assert report.indication != TOTAL_PASSED and report.effective_date is None, report.to_json()
        indication, _sub, problems = controller(report)
        assert indication == INDETERMINATE and any("timestamp" in p for p in problems), problems
