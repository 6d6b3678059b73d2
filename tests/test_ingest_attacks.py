"""dpa ingest under attack (issue 9): each case builds the hostile return as real files — a real issued agreement
(LibreOffice, the development PKI, the real TSA), changed with pypdf and signed with pyHanko as another tool would —
and checks the refusal, the exit code, and that the register rows and every file's hash are as before."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, TextStringObject

from dpa.config import Config
from dpa.devtools.devpki import CertKey, DevPki, issue_cert
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.verifier import DocumentReport, Verifier
from dpa.workflows.evidence import check_return
from dpa.workflows.ingest import ingest_file
from dpa.workflows.issue import Issued, issue
from tests import tamper
from tests.conftest import EXAMPLE_FIELDS, config_file_for, local_paths, make_record
from tests.ltv_support import dss_crl_issuers, publishing_ca
from tests.signing_support import run_dpa, validate_with_pyhanko

pytestmark = pytest.mark.libreoffice


@dataclass
class Setup:
    """An issued agreement for C-1 in a register under ``folder``, and what the attacks need."""

    config: Config
    folder: Path
    issued: Issued
    pki: DevPki

    def returned(self, name: str, data: bytes) -> Path:
        path = self.folder / "returned" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def snapshot(self) -> tuple[list[object], dict[str, str]]:
        with Register(self.config.paths.register) as register:
            rows: list[object] = list(register.agreements())
        files = {
            str(p.relative_to(self.folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and not p.name.startswith("register.sqlite3")
        }
        return rows, files

    def last_event(self) -> tuple[str, str | None]:
        with Register(self.config.paths.register) as register:
            event = register.events(self.issued.register_id)[-1]
        return event.kind, event.verdict


@pytest.fixture
def setup(signing_config: Config, dev_pki: DevPki, tmp_path: Path) -> Setup:
    config = local_paths(signing_config, tmp_path)
    issued = issue(make_record(id="C-1"), config, tmp_path / "C-1.pdf")
    return Setup(config, tmp_path, issued, dev_pki)


@pytest.fixture
def verifier(setup: Setup) -> Iterator[Verifier]:
    with Verifier(setup.config) as v:
        yield v


def assert_refused_unchanged(setup: Setup, verifier: Verifier, path: Path, words: str, verdict: str) -> None:
    before = setup.snapshot()
    with Register(setup.config.paths.register) as register:
        result = ingest_file(path, register, verifier)
    assert not result.accepted and words in result.reason, result.reason
    assert setup.snapshot() == before, "the register rows and every file are as they were"
    assert setup.last_event() == ("ingest-refused", verdict)
    assert not (setup.folder / "signed").exists() or not any((setup.folder / "signed").iterdir())


# --- the forged rewrite: the issued prefix, then a whole new document without /Prev -----------------------------


def rewritten(issued: bytes, *, keep_processor_signature: bool) -> bytes:
    """The issued document rewritten by pypdf: fields renamed, a changed article, the processor's signature kept
    under its new name or dropped; a complete file of its own."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(issued)))
    for ref in writer._root_object["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field["/T"] == "processor_signature":
            field[NameObject("/T")] = TextStringObject("verwerker")
            if not keep_processor_signature:
                del field["/V"]
        elif field["/T"] == "controller_signature":
            field[NameObject("/T")] = TextStringObject("klant")
    writer.add_metadata({"/Subject": "Artikel 10.2: bewaartermijn nul dagen"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def after_prefix_without_prev(prefix: bytes, document: bytes) -> bytes:
    """``prefix`` followed by ``document`` as a revision whose xref table has no /Prev: a reader that follows the
    last startxref sees only ``document``."""
    match = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", document)
    assert match, "pypdf wrote a classic cross-reference table"
    xref_at = int(match.group(1))
    shift = len(prefix) + 1
    table, trailer = document[xref_at:].split(b"trailer", 1)
    assert b"/Prev" not in trailer
    table = re.sub(rb"(\d{10}) (\d{5}) n", lambda m: b"%010d %s n" % (int(m[1]) + shift, m[2]), table)
    trailer = trailer[: trailer.rindex(b"startxref")]
    return (
        prefix
        + b"\n"
        + document[:xref_at]
        + table
        + b"trailer"
        + trailer
        + b"startxref\n%d\n%%%%EOF\n" % (xref_at + shift)
    )


@pytest.mark.parametrize("keep_processor_signature", [False, True], ids=["signature-dropped", "signature-copied"])
def test_forged_rewrite_is_refused(setup: Setup, verifier: Verifier, keep_processor_signature: bool) -> None:
    issued = setup.issued.path.read_bytes()
    forged = after_prefix_without_prev(issued, rewritten(issued, keep_processor_signature=keep_processor_signature))
    assert forged.startswith(issued)
    with contextlib.closing(timestamper_from_config(setup.config)) as stamper:
        signed = tamper.pyhanko_sign(forged, "klant", setup.pki.controller, stamper)
    assert [f for f, *_ in validate_with_pyhanko(signed, list(setup.config.trust.roots))][-1] == "klant"
    path = setup.returned("forged.pdf", signed)
    # the evidence check alone refuses it, whatever the verifier says
    refusal = check_return(issued, signed, []).refusal
    assert refusal is not None and ("does not continue the issued agreement" in refusal or "not the one" in refusal)
    report = verifier.verify_bytes(signed, str(path))
    if report.passed and report.complete:  # the verifier let it through: ingest's own check refuses it
        assert_refused_unchanged(setup, verifier, path, "", "NOT_THE_ISSUED_AGREEMENT")
    else:
        verdict = report.indication + (f"/{report.sub_indication}" if report.sub_indication else "")
        assert_refused_unchanged(setup, verifier, path, "", verdict)
    before = setup.snapshot()
    result_cli = run_dpa("--config", str(config_file_for(setup.config, setup.folder)), "ingest", str(path))
    assert result_cli.returncode == 1 and "REFUSED (C-1)" in result_cli.stdout, result_cli.stdout
    assert setup.snapshot() == before
    with Register(setup.config.paths.register) as register:
        (row,) = register.agreements()
        assert row.status == "issued" and row.signed_file is None and row.effective_date is None


class PassingVerifier:
    """A stand-in for a verifier that is fooled: every file is TOTAL_PASSED and complete. Only for the test below,
    beside the real verifier in the test above: ingest's own checks must hold without the verifier's help."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limits = config.verify

    def verify_bytes(self, data: bytes, name: str) -> DocumentReport:
        return DocumentReport(
            name, hashlib.sha256(data).hexdigest(), "TOTAL_PASSED", None, True, dt.date.today(), "B-T", ()
        )


@pytest.mark.parametrize("keep_processor_signature", [False, True], ids=["signature-dropped", "signature-copied"])
def test_forged_rewrite_is_refused_by_ingest_alone(setup: Setup, keep_processor_signature: bool) -> None:
    issued = setup.issued.path.read_bytes()
    forged = after_prefix_without_prev(issued, rewritten(issued, keep_processor_signature=keep_processor_signature))
    with contextlib.closing(timestamper_from_config(setup.config)) as stamper:
        signed = tamper.pyhanko_sign(forged, "klant", setup.pki.controller, stamper)
    path = setup.returned("forged.pdf", signed)
    fooled = cast(Verifier, PassingVerifier(setup.config))
    assert_refused_unchanged(setup, fooled, path, "does not continue the issued agreement", "NOT_THE_ISSUED_AGREEMENT")


# --- borrowed key: the customer's field signed with ipcall.me's own certificate -------------------------------------


def test_countersigned_with_the_processors_own_key_is_refused(setup: Setup, verifier: Verifier) -> None:
    (setup.folder / "keys").mkdir()
    own = {"controller": tamper.pem_signer(setup.folder / "keys", "processor", setup.pki.processor)}
    with SigningSession(setup.config, overrides=own) as session:
        data, _ = session.sign_bytes(setup.issued.path.read_bytes(), "controller", name="C-1")
    assert [v[1] for v in validate_with_pyhanko(data, list(setup.config.trust.roots))] == [True, True]
    path = setup.returned("own-key.pdf", data)
    refusal = check_return(setup.issued.path.read_bytes(), data, []).refusal  # even without processor_certificates
    assert refusal is not None and "ipcall.me's own certificate" in refusal
    report = verifier.verify_bytes(data, str(path))
    if report.passed and report.complete:  # the verifier let it through: ingest's own check refuses it
        assert_refused_unchanged(setup, verifier, path, "ipcall.me's own certificate", "NOT_THE_ISSUED_AGREEMENT")
    else:
        verdict = report.indication + (f"/{report.sub_indication}" if report.sub_indication else "")
        assert_refused_unchanged(setup, verifier, path, "", verdict)


# --- the signer is not the customer ----------------------------------------------------------------------------------


def test_a_signer_of_another_company_waits_for_legal(setup: Setup, verifier: Verifier) -> None:
    stranger = issue_cert(setup.pki.ca, "Piet Buiten", organization="Andere Partij B.V.", email="piet@andere.example")
    (setup.folder / "keys").mkdir()
    override = {"controller": tamper.pem_signer(setup.folder / "keys", "stranger", stranger)}
    with SigningSession(setup.config, overrides=override) as session:
        data, _ = session.sign_bytes(setup.issued.path.read_bytes(), "controller", name="C-1")
    path = setup.returned("stranger.pdf", data)
    assert verifier.verify_bytes(data, str(path)).passed
    assert_refused_unchanged(setup, verifier, path, "waiting for legal to confirm this signer", "SIGNER_UNCONFIRMED")
    with Register(setup.config.paths.register) as register:
        waiting = ingest_file(path, register, verifier)
        assert waiting.waiting_for_legal and "'Andere Partij B.V.'" in waiting.reason
        assert f"'{EXAMPLE_FIELDS['name']}'" in waiting.reason and "O=Andere Partij B.V." in waiting.reason
        confirmed = ingest_file(path, register, verifier, confirm_signer=True)
        assert confirmed.accepted and "confirmed by legal" in confirmed.reason, confirmed.reason
        (row,) = register.agreements()
        assert row.status == "effective"
        kinds = [e.kind for e in register.events(row.id)]
        assert kinds[-2:] == ["signer-confirmed", "effective"]
        assert "O=Andere Partij B.V." in (register.events(row.id)[-2].detail or "")
        assert ingest_file(path, register, verifier).accepted, "the same file again is harmless"


# --- evidence never overwritten: a second, different, valid return ------------------------------------------------


def test_a_second_valid_return_of_an_effective_agreement_is_refused(setup: Setup, verifier: Verifier) -> None:
    returns = []
    with SigningSession(setup.config) as session:
        for name in ("first.pdf", "second.pdf"):
            data, _ = session.sign_bytes(setup.issued.path.read_bytes(), "controller", name="C-1")
            returns.append(setup.returned(name, data))
    assert returns[0].read_bytes() != returns[1].read_bytes()
    assert verifier.verify_file(returns[1]).passed
    with Register(setup.config.paths.register) as register:
        first = ingest_file(returns[0], register, verifier)
        assert first.accepted and first.stored is not None
        (row,) = register.agreements()
    assert_refused_unchanged_after_effective(setup, verifier, returns[1], row.signed_sha256 or "", row.effective_date)


def assert_refused_unchanged_after_effective(
    setup: Setup, verifier: Verifier, path: Path, on_file_sha: str, date: str | None
) -> None:
    before = setup.snapshot()
    with Register(setup.config.paths.register) as register:
        result = ingest_file(path, register, verifier)
    assert not result.accepted
    assert f"already effective from {date}" in result.reason and on_file_sha in result.reason, result.reason
    assert setup.snapshot() == before
    assert setup.last_event() == ("ingest-refused", "ALREADY_EFFECTIVE")


def test_stored_names_cannot_collide_across_customers(setup: Setup, verifier: Verifier) -> None:
    other = issue(make_record(id="C-1.signed"), setup.config, setup.folder / "C-1.signed.pdf")
    stored = []
    with SigningSession(setup.config) as session, Register(setup.config.paths.register) as register:
        for agreement in (setup.issued, other):
            data, _ = session.sign_bytes(agreement.path.read_bytes(), "controller", name=agreement.path.name)
            result = ingest_file(setup.returned(agreement.path.name, data), register, verifier)
            assert result.accepted, result.reason
            assert result.stored is not None and result.stored.read_bytes() == data
            stored.append(result.stored)
        assert len(set(stored)) == 2 and all(p.parent == setup.folder / "signed" for p in stored)
        assert {a.signed_file for a in register.agreements()} == {str(p.resolve()) for p in stored}
    assert setup.issued.path.read_bytes() != stored[0].read_bytes(), "the issued file is still the issued file"


# --- a customer CA trusted for one run --------------------------------------------------------------------------------


def test_ingest_trusts_a_customer_ca_for_one_run_and_fetches_its_revocation_data(setup: Setup) -> None:
    """The customer's own CA, trusted with ``--trust`` for one run. pyHanko's defaults embed no revocation data, so
    verify says INDETERMINATE/TRY_LATER; ingest fetches it from the CA's own address before it seals, and accepts."""
    with publishing_ca(
        setup.folder / "klant-pki", "Klant CA (test)", setup.pki.tsa, organization=EXAMPLE_FIELDS["name"]
    ) as served:
        signer = issue_cert(served.ca, "J. de Vries", organization=EXAMPLE_FIELDS["name"])
        ca_pem = setup.folder / "keys" / "klant-ca.pem"
        ca_pem.parent.mkdir()
        ca_pem.write_bytes(served.ca.cert_pem())
        with contextlib.closing(timestamper_from_config(setup.config)) as stamper:
            data = tamper.pyhanko_sign(setup.issued.path.read_bytes(), "controller_signature", signer, stamper)
        path = setup.returned("klant-ca.pdf", data)
        with Verifier(setup.config, extra_trust=[ca_pem]) as verifier:
            before_ingest = verifier.verify_bytes(data, "klant-ca.pdf")
        assert (before_ingest.indication, before_ingest.sub_indication) == ("INDETERMINATE", "TRY_LATER")
        assert "revocation not checked" in " ".join(before_ingest.problems)
        config_file = config_file_for(setup.config, setup.folder)
        before = setup.snapshot()
        untrusted = run_dpa("--config", str(config_file), "ingest", str(path))
        assert untrusted.returncode == 1 and "REFUSED (C-1)" in untrusted.stdout, untrusted.stdout
        assert setup.snapshot() == before
        assert sum(served.responder.requests.values()) == 0  # an untrusted signer is never looked up
        trusted = run_dpa("--config", str(config_file), "ingest", str(path), "--trust", str(ca_pem))
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert "accepted (C-1): effective from" in trusted.stdout
        assert sum(served.responder.requests.values()) >= 1  # fetched from the CA's own address
    stored = setup.folder / "signed" / "C-1+1.pdf"
    assert any("Klant CA (test)" in issuer for issuer in dss_crl_issuers(stored.read_bytes()))
    with Verifier(setup.config, extra_trust=[ca_pem]) as verifier:  # the CA's services are stopped by now
        report = verifier.verify_file(stored)
    assert report.passed and report.complete, report.problems


def test_a_return_whose_revocation_status_cannot_be_had_is_refused_try_later(setup: Setup) -> None:
    """The customer's CA publishes its status, but its service is down at ingest: missing revocation data never
    counts as "not revoked" — refused as INDETERMINATE/TRY_LATER with the reason, nothing stored."""
    with publishing_ca(setup.folder / "klant-pki", "Klant CA (test)", setup.pki.tsa) as served:
        signer = issue_cert(served.ca, "J. de Vries", organization=EXAMPLE_FIELDS["name"])
        ca_pem = setup.folder / "klant-ca.pem"
        ca_pem.write_bytes(served.ca.cert_pem())
    with contextlib.closing(timestamper_from_config(setup.config)) as stamper:
        data = tamper.pyhanko_sign(setup.issued.path.read_bytes(), "controller_signature", signer, stamper)
    path = setup.returned("klant-ca.pdf", data)
    config_file = config_file_for(setup.config, setup.folder)
    refused = run_dpa("--config", str(config_file), "ingest", str(path), "--trust", str(ca_pem))
    assert refused.returncode == 1 and "REFUSED (C-1)" in refused.stdout, refused.stdout + refused.stderr
    assert "revocation not checked" in refused.stdout and "could not add all validation data" in refused.stdout
    assert not (setup.folder / "signed").exists() or not any((setup.folder / "signed").iterdir())
    assert setup.last_event() == ("ingest-refused", "INDETERMINATE/TRY_LATER")


# --- a counter-signature without a timestamp: judged at the archive timestamp ingest adds (issue 12 §5) -----------


def untimestamped(setup: Setup, signer: CertKey | None = None, claimed: dt.datetime | None = None) -> bytes:
    """The issued file counter-signed with pyHanko and no timestamp (Acrobat's default), by ``signer`` (the
    development controller) with its clock reading ``claimed`` (now)."""
    cert_key = signer or setup.pki.controller
    issued = setup.issued.path.read_bytes()
    with tamper.claimed_signing_time(claimed) if claimed else contextlib.nullcontext():
        return tamper.pyhanko_sign(issued, "controller_signature", cert_key, None)


def test_untimestamped_claiming_a_time_after_the_ingest_moment_is_refused(setup: Setup, verifier: Verifier) -> None:
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    path = setup.returned("claims-tomorrow.pdf", untimestamped(setup, claimed=tomorrow))
    before = verifier.verify_file(path)
    assert before.indication == "INDETERMINATE" and before.pades_level == "B-B", before.to_json()
    assert_refused_unchanged(
        setup,
        verifier,
        path,
        "lies after the document timestamp that proves it existed",
        "INDETERMINATE/SIG_CONSTRAINTS_FAILURE",
    )


def test_untimestamped_claiming_a_time_before_the_processors_timestamp_is_refused(
    setup: Setup, verifier: Verifier
) -> None:
    path = setup.returned(
        "claims-yesterday.pdf", untimestamped(setup, claimed=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    )
    assert_refused_unchanged(
        setup,
        verifier,
        path,
        "is earlier than the timestamp of 'processor_signature'",
        "INDETERMINATE/TIMESTAMP_ORDER_FAILURE",
    )


def test_untimestamped_with_a_certificate_expired_at_the_ingest_moment_is_refused(
    setup: Setup, verifier: Verifier
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = issue_cert(
        setup.pki.ca,
        setup.pki.controller.common_name,
        organization=EXAMPLE_FIELDS["name"],
        not_before=now - dt.timedelta(minutes=5),
        not_after=now - dt.timedelta(seconds=30),
    )
    path = setup.returned("expired.pdf", untimestamped(setup, expired, claimed=now - dt.timedelta(minutes=1)))
    assert_refused_unchanged(setup, verifier, path, "expired", "NO_PROOF_OF_EXISTENCE")
    with Register(setup.config.paths.register) as register:
        detail = register.events(setup.issued.register_id)[-1].detail or ""
    assert "no timestamp and no proof of existence could be added" in detail, detail
    assert "certificate expired" in detail and detail.endswith("; nothing was stored"), detail


def test_untimestamped_is_refused_as_today_when_configured_to_refuse(setup: Setup) -> None:
    refusing = tamper.replace(setup.config, ingest=dataclasses.replace(setup.config.ingest, untimestamped="refuse"))
    path = setup.returned("untimestamped.pdf", untimestamped(setup))
    with Verifier(refusing) as verifier:
        assert_refused_unchanged(
            setup, verifier, path, "has no RFC 3161 timestamp", "INDETERMINATE/SIG_CONSTRAINTS_FAILURE"
        )


def test_a_return_that_cannot_be_sealed_is_refused_and_nothing_is_stored(setup: Setup, verifier: Verifier) -> None:
    """The TSA is down when ingest seals a valid return: NOT_SEALED, the register and every file as they were; the
    same file is accepted once the TSA answers again."""
    from dpa.workflows.sealing import ingest_archiver
    from tests.signing_support import free_port

    with SigningSession(setup.config) as session:
        data, _ = session.sign_bytes(setup.issued.path.read_bytes(), "controller", name="C-1")
    path = setup.returned("C-1.pdf", data)
    assert verifier.verify_file(path).passed
    before = setup.snapshot()
    down = [f"http://127.0.0.1:{free_port()}/"]  # nobody listens there
    with Register(setup.config.paths.register) as register, ingest_archiver(setup.config, tsa_urls=down) as archiver:
        result = ingest_file(path, register, verifier, archiver=archiver)
    assert not result.accepted and "could not be sealed" in result.reason, result.reason
    assert setup.snapshot() == before, "the register rows and every file are as they were"
    assert setup.last_event() == ("ingest-refused", "NOT_SEALED")
    with Register(setup.config.paths.register) as register, ingest_archiver(setup.config) as archiver:
        again = ingest_file(path, register, verifier, archiver=archiver)
    assert again.accepted and again.stored is not None, again.reason
    assert verifier.verify_file(again.stored).pades_level == "B-LTA"


def test_revocation_data_in_the_signatures_own_attribute_counts(setup: Setup) -> None:
    """Acrobat with "LTV" puts the CRL into the signature itself (Adobe's revocation-information attribute, not the
    DSS): that establishes the status as well as a CRL in the DSS does."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko_certvalidator import ValidationContext

    with publishing_ca(setup.folder / "klant-pki", "Klant CA (LTV)", setup.pki.tsa) as served:
        signer = issue_cert(served.ca, "J. de Vries", organization=EXAMPLE_FIELDS["name"])
        ca_pem = setup.folder / "klant-ca.pem"
        ca_pem.write_bytes(served.ca.cert_pem())
        roots = [tamper.simple_signer(ca).signing_cert for ca in (served.ca, setup.pki.tsa_ca)]
        meta = signers.PdfSignatureMetadata(
            field_name="controller_signature",
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
            embed_validation_info=True,
            validation_context=ValidationContext(trust_roots=roots, allow_fetching=True),
        )
        with contextlib.closing(timestamper_from_config(setup.config)) as stamper:
            pdf_signer = signers.PdfSigner(meta, tamper.simple_signer(signer), timestamper=stamper)
            out = io.BytesIO()
            pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(setup.issued.path.read_bytes())), output=out)
        assert sum(served.responder.requests.values()) >= 1
    data = out.getvalue()
    assert not any("Klant CA (LTV)" in issuer for issuer in dss_crl_issuers(data))  # not in the DSS
    with Verifier(setup.config, extra_trust=[ca_pem]) as verifier:  # the CA's services are stopped by now
        report = verifier.verify_bytes(data, "ltv.pdf")
    controller = next(s for s in report.signatures if s.field == "controller_signature")
    assert controller.sub_indication != "TRY_LATER", controller.problems
    assert (report.indication, report.complete) == ("TOTAL_PASSED", True), report.problems
