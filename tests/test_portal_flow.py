"""The customer signs in "the browser": the whole signing-page flow as a library test, with real components.

A LibreOffice-issued agreement (the session's converter, certified by ipcall.me with a real `dpa tsa serve`), a
real SMTP server (aiosmtpd) from which the test reads the link and the code, the customer-signing CA of the
development PKI, pyHanko's interrupted signing, and "the browser": an ECDSA P-256 key made here. The result goes
through ingest (prefix check, verification) and pdfsig; nothing stored may hold the browser's private key. And
`dpa invite` as a command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dpa.assembly.convert import Converter
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.portal.binding import AgreementBinding, read_binding, read_evidence_head
from dpa.portal.errors import LinkGone, SessionMismatch, SignatureRefused
from dpa.portal.evidence import IDENTIFICATION
from dpa.portal.flow import SigningPortal
from dpa.portal.invitations import Actor
from dpa.portal.mail import SmtpMailer, list_outbox, read_message
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.workflows.issue import Issued, IssueRun, issue_one
from tests.conftest import make_record
from tests.ltv_support import dss_crl_issuers
from tests.portal_support import (
    CrlServer,
    SmtpServer,
    attachments,
    body,
    browser,
    code_from,
    files_under,
    local_portal_config,
    start_smtp,
    token_from,
)
from tests.signing_support import embedded_signatures, make_nss_db, pdfsig, run_dpa

pytestmark = pytest.mark.libreoffice
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SALES = Actor("sales-anna", "sales")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.stop()


def issue_for(config: Config, converter: Converter, customer: str) -> Issued:
    record = make_record(id=customer, email=f"inkoop@{customer.lower()}.example", signatory_name="J. de Vries")
    templates = TemplateSet.load(config.paths.templates, record.language)
    with SigningSession(config) as session, Register(config.paths.register) as register:
        return issue_one(
            record, config.paths.output / f"{customer}.pdf", IssueRun(config, templates, converter, session, register)
        )


def signer_certificate(signed_data: cms.SignedData) -> x509.Certificate:
    sid = signed_data["signer_infos"][0]["sid"].chosen
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        if cert.serial_number == sid["serial_number"].native and cert.issuer == sid["issuer"]:
            return x509.load_der_x509_certificate(cert.dump())
    raise AssertionError("no signer certificate in the CMS")


def test_the_customer_signs_in_the_browser(
    signing_config: Config,
    converter: Converter,
    dev_pki: DevPki,
    smtp: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    crl_server = CrlServer()
    config = local_portal_config(signing_config, tmp_path, smtp.config(), base_url=crl_server.base_url)
    issued = issue_for(config, converter, "C-77")
    seen = len(smtp.messages)
    with (
        Register(config.paths.register) as register,
        SigningPortal(config, register, SmtpMailer(config.smtp)) as portal,
        contextlib.closing(crl_server),
    ):
        crl_server.portal = portal
        portal.invite("C-77", "inkoop@c-77.example", SALES)
        invitation_mail = smtp.wait_for(seen + 1)[-1]
        assert attachments(invitation_mail) == {"C-77.pdf": issued.path.read_bytes()}
        token = token_from(invitation_mail)

        before = register.query("SELECT * FROM events ORDER BY id")
        view = portal.look(token)  # what a mail scanner's prefetch does: nothing
        assert view.agreement.customer_id == "C-77" and register.query("SELECT * FROM events ORDER BY id") == before

        signer, elsewhere = browser("browser-session-1"), browser("browser-session-2")
        portal.open(token, signer.client)
        portal.request_code(token, signer.client)
        code = code_from(smtp.wait_for(seen + 2)[-1])
        portal.verify_code(token, signer.client, code)
        challenge = portal.challenge(token, signer.client)
        issued_cert = portal.request_certificate(
            token,
            signer.client,
            public_key=signer.spki,
            proof=signer.sign(challenge),
            signatory_name="J. de Vries",
            signatory_title="Directeur",
            agreed=True,
        )
        to_sign = portal.prepare_signature(token, signer.client)
        with pytest.raises(SessionMismatch):
            portal.finish_signature(token, elsewhere.client, elsewhere.sign(to_sign))
        with pytest.raises(SignatureRefused):
            portal.finish_signature(token, signer.client, signer.sign(b"something else"))
        outcome = portal.finish_signature(token, signer.client, signer.sign(to_sign))

        assert outcome.accepted, outcome.reason
        today = dt.datetime.now(AMSTERDAM).date()
        assert outcome.effective_date == today
        (row,) = register.agreements(customer_id="C-77")
        assert row.status == "effective" and row.effective_date == today.isoformat()
        stored = outcome.ingest.stored
        assert stored is not None and stored.read_bytes().startswith(issued.path.read_bytes())
        report = outcome.ingest.report
        assert report is not None and report.indication == "TOTAL_PASSED" and report.complete

        with pytest.raises(LinkGone) as used:
            portal.look(token)
        assert used.value.reason == "used"

        evidence = portal.evidence(row.id)
        crl = x509.load_der_x509_crl(portal.crl())

    # both signatures, independently: pdfsig with an NSS database trusting the two development roots
    nss = make_nss_db(tmp_path / "nss", dev_pki.ca_path)
    subprocess.run(
        ["certutil", "-A", "-n", "signing-ca", "-t", "CT,C,C", "-i", str(dev_pki.directory / "signing-ca.pem"),
         "-d", f"sql:{nss}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    verdicts = pdfsig(stored, nss)
    # the stored copy is sealed: the archive timestamp (a document timestamp, which poppler 22 does not check; the
    # verdict above and the signed-output check did) follows the controller's signature, the last one signed
    assert [v.field for v in verdicts] == ["processor_signature", "controller_signature", "archive_timestamp_1"]
    assert all(v.signature_valid and v.certificate_trusted for v in verdicts[:2]), [v.raw for v in verdicts]

    # the controller's certificate: the signatory, the browser's EC P-256 key, this agreement only
    controller = embedded_signatures(stored)[1]
    cert = signer_certificate(controller.signed_data)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "J. de Vries"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == row.name
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    assert key == signer.key.public_key() and cert == issued_cert.certificate
    assert read_binding(cert) == AgreementBinding("C-77", issued.sha256)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None
    assert controller.timestamp_token is not None

    # B-LT: the customer-signing CA's CRL, fetched from the address the certificate names, is in the DSS of the
    # signature's revision; the stored copy is sealed on top (ingest seals what it accepts): B-LTA
    assert crl_server.requests >= 1
    assert report.pades_level == "B-LTA", report.pades_level
    start, length = controller.byte_range[2:]
    revision = stored.read_bytes()[: start + length]  # the controller signature's own revision
    assert cert.issuer.rfc4514_string() and dss_crl_issuers(revision) >= {
        asn1_x509.Name.load(cert.issuer.public_bytes()).human_friendly,
        *dss_crl_issuers(issued.path.read_bytes()),  # the TSA's, as for ipcall.me's signature
    }

    # the evidence: every step, hash-chained, its head inside the customer's signature
    signed_attrs = controller.signed_data["signer_infos"][0]["signed_attrs"]
    assert evidence.chain_intact, evidence.problems
    assert read_evidence_head(signed_attrs) == evidence.signed_head is not None
    kinds = [line.kind for line in evidence.lines]
    for kind in ("invited", "page-opened", "code-sent", "code-verified", "certificate-issued", "signed"):
        assert kind in kinds, kinds
    assert evidence.identification("en") == IDENTIFICATION["en"]
    facts = dict(next(line for line in evidence.lines if line.kind == "certificate-issued").facts)
    assert (
        facts["certificate serial"] == issued_cert.serial
        and facts["key fingerprint (SHA-256)"] == issued_cert.key_sha256
    )
    opened = dict(next(line for line in evidence.lines if line.kind == "page-opened").facts)
    assert opened["IP"] == "192.0.2.10" and opened["browser"] == "Mozilla/5.0 (test browser)"
    assert any("evidence chain intact" in line for line in evidence.text())

    # the signer gets the signed copy
    copy = smtp.wait_for(seen + 3)[-1]
    assert attachments(copy) == {"C-77.signed.pdf": stored.read_bytes()} and today.strftime("%d-%m-%Y") in body(copy)

    # nothing the server stores holds the browser's private key; no log holds the token or the code
    forms = signer.private_forms()
    for path in files_under(tmp_path):
        data = path.read_bytes()
        assert not any(form in data for form in forms), path
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert token not in logged and code not in logged


def test_dpa_invite_mails_into_the_outbox_and_prints_the_link(
    signing_config: Config, converter: Converter, dev_pki: DevPki, tmp_path: Path
) -> None:
    config = local_portal_config(signing_config, tmp_path, None)
    issued = issue_for(config, converter, "C-78")
    assert signing_config.source is not None
    toml = signing_config.source.parent / f"dpa-{tmp_path.name}.toml"  # beside it: its relative paths stay valid
    toml.write_text(
        signing_config.source.read_text(encoding="utf-8")
        + f'\n[paths]\noutput = "{tmp_path}"\nregister = "{config.paths.register}"\n',
        encoding="utf-8",
    )
    env = dict(dev_pki.secrets)
    refused = run_dpa("--config", str(toml), "invite", "C-78", "--email", "someone@else.example", env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().startswith("dpa: error: C-78: someone@else.example is not the e-mail address")

    result = run_dpa("--config", str(toml), "invite", "C-78", "--email", "inkoop@c-78.example", "--json", env=env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["link"].startswith("http://127.0.0.1:8080/s/") and printed["email"] == "inkoop@c-78.example"
    (message,) = list_outbox(tmp_path / "outbox")
    mail = read_message(message.path)
    assert token_from(mail) == printed["link"].rsplit("/", 1)[1]
    assert attachments(mail) == {"C-78.pdf": issued.path.read_bytes()}
    assert printed["link"].rsplit("/", 1)[1] not in result.stderr
