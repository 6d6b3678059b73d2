"""Archive timestamps (PAdES B-LTA): `dpa archive seal` and `dpa archive extend`, against real services (dpa's TSA
and CRL/OCSP server on loopback), a real register and independent checkers (pdfsig, qpdf)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dpa.archive.seal import Archiver, _revision_hashes
from dpa.config import Config
from dpa.devtools.devpki import DEV_MARKER, issue_cert
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.verify.verifier import Verifier
from dpa.workflows.ingest import ingest_file
from tests.conftest import config_file_for, local_paths, make_record
from tests.ltv_support import document_timestamp_fields, dss_crl_issuers, plain_tsa, served_pki
from tests.signing_support import make_nss_db, pdfsig, qpdf_check, run_dpa

TOTAL_PASSED = "TOTAL_PASSED"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingested(config: Config, unsigned: bytes, folder: Path, name: str) -> Path:
    """An agreement issued into ``folder`` (as ``NAME.pdf``), counter-signed, and ingested through dpa's real
    ingest; returns the stored ``NAME.signed.pdf``."""
    with SigningSession(config) as session:
        half, _ = session.sign_bytes(unsigned, "processor")
        full, _ = session.sign_bytes(half, "controller")
    issued = folder / f"{name}.pdf"
    issued.write_bytes(half)
    returned = folder.parent / "returned" / f"{name}.pdf"
    returned.parent.mkdir(exist_ok=True)
    returned.write_bytes(full)
    with Register(config.paths.register) as register, Verifier(config) as verifier:
        register.record_issued(make_record(), f"template-{name}", issued, _sha(half))
        result = ingest_file(returned, register, verifier)
    assert result.accepted and result.stored is not None, result.reason
    return result.stored


def _verify(config: Config, path: Path) -> tuple[str, str | None, str | None]:
    with Verifier(config) as verifier:
        report = verifier.verify_file(path)
    assert report.indication == TOTAL_PASSED, report.problems
    return report.indication, report.pades_level, report.effective_date.isoformat() if report.effective_date else None


def test_seal_appends_validation_data_and_a_document_timestamp(
    signing_config: Config, assembled_agreement: bytes, tmp_path: Path
) -> None:
    config = local_paths(signing_config, tmp_path)
    (tmp_path / "store").mkdir()
    stored = ingested(config, assembled_agreement, tmp_path / "store", "C-1001")
    before = stored.read_bytes()
    (_, level, effective) = _verify(config, stored)
    assert level == "B-LT"

    with Register(config.paths.register) as register, Archiver(config, register=register) as archiver:
        result = archiver.seal_file(stored)
        assert (result.action, result.registered, result.warning) == ("sealed", True, None), result.reason
        after = stored.read_bytes()
        assert after.startswith(before) and len(after) > len(before)  # appended; nothing on file replaced
        assert result.sha256 == _sha(after) and result.timestamp is not None
        row = register.by_signed_file(stored)
        assert row is not None and row.signed_sha256 == _sha(after) and row.status == "effective"
        event = register.events(row.id)[-1]
        assert (event.kind, event.file_sha256) == ("archive-sealed", _sha(after))
        assert event.detail is not None and _sha(before) in event.detail

        again = archiver.seal_file(stored)  # already sealed: nothing changes
        assert again.action == "skipped" and "already sealed" in again.reason
        assert stored.read_bytes() == after and register.events(row.id)[-1] == event

    assert document_timestamp_fields(after) == ["archive_timestamp_1"]
    assert dss_crl_issuers(after) == dss_crl_issuers(before) and len(dss_crl_issuers(after)) == 2
    assert qpdf_check(stored).returncode == 0
    nss = make_nss_db(tmp_path / "nss", signing_config.trust.roots[0])
    reported = {s.field: s for s in pdfsig(stored, nss)}
    for field in ("processor_signature", "controller_signature"):
        assert reported[field].signature_valid and reported[field].certificate_trusted, reported[field].raw
    assert _verify(config, stored) == (TOTAL_PASSED, "B-LTA", effective)


def test_archive_seal_cli_skips_what_is_not_complete(
    signing_config: Config, assembled_agreement: bytes, tmp_path: Path
) -> None:
    with SigningSession(signing_config) as session:
        half, _ = session.sign_bytes(assembled_agreement, "processor")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "half.pdf").write_bytes(half)
    (folder / "not-a-pdf.pdf").write_bytes(b"hello")
    config = config_file_for(signing_config, tmp_path)
    result = run_dpa("--config", str(config), "archive", "seal", str(folder), "--json", "--tsa", _tsa(signing_config))
    assert result.returncode == 1, result.stderr  # the unreadable file failed
    lines = {Path(d["file"]).name: d for d in map(json.loads, result.stdout.splitlines())}
    assert lines["half.pdf"]["action"] == "skipped" and "not complete" in lines["half.pdf"]["reason"]
    assert lines["not-a-pdf.pdf"]["action"] == "failed" and "not a PDF" in lines["not-a-pdf.pdf"]["reason"]
    assert (folder / "half.pdf").read_bytes() == half and (folder / "not-a-pdf.pdf").read_bytes() == b"hello"


def _tsa(config: Config) -> str:
    return config.tsa.urls[0]


@pytest.mark.slow
def test_extend_a_folder_whose_tsa_certificate_nears_expiry(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TSA certificate valid 100 days (< 180): every complete agreement gets exactly one new document timestamp
    from a fresh TSA certificate; a second run adds none; the register records each extension."""
    with served_pki(tmp_path / "pki", monkeypatch, tsa_valid_days=100) as served:
        config = local_paths(served.config, tmp_path)
        folder = tmp_path / "agreements"
        folder.mkdir()
        stored = [ingested(config, assembled_agreement, folder, f"agreement-{i}") for i in range(3)]
        with Register(config.paths.register) as register, Archiver(config, register=register) as archiver:
            assert archiver.seal_file(stored[0]).action == "sealed"  # one sealed before, two never sealed
            # the old TSA is due itself: refused, nothing written
            refused = archiver.extend_file(stored[1])
            assert refused.action == "failed" and "fresh certificate" in refused.reason, refused.reason
        before = {p: p.read_bytes() for p in sorted(folder.rglob("*.pdf"))}
        counts = {p: len(document_timestamp_fields(data)) for p, data in before.items()}

        fresh = issue_cert(served.pki.tsa_ca, f"dpa TSA 2 ({DEV_MARKER})", profile="tsa", valid_days=3650)
        with plain_tsa(fresh) as fresh_url:
            cli_config = config_file_for(config, tmp_path)
            first = _extend(cli_config, folder, fresh_url)
            after = {p: p.read_bytes() for p in before}
            second = _extend(cli_config, folder, fresh_url)

        for path in stored:
            assert first[path.name]["action"] == "extended" and first[path.name]["registered"], first[path.name]
            assert after[path].startswith(before[path]) and after[path] != before[path]
            assert len(document_timestamp_fields(after[path])) == counts[path] + 1
            assert qpdf_check(path).returncode == 0
            assert second[path.name]["action"] == "not_due"
            assert path.read_bytes() == after[path]  # the second run changed nothing
            assert _verify(config, path)[1] == "B-LTA"
        for path in set(before) - set(stored):  # the issued files: not complete, untouched
            assert first[path.name]["action"] == second[path.name]["action"] == "skipped"
            assert after[path] == before[path]
        with Register(config.paths.register) as register:
            for path in stored:
                row = register.by_signed_file(path)
                assert row is not None and row.signed_sha256 == _sha(after[path])
                kinds = [e.kind for e in register.events(row.id)]
                assert kinds.count("archive-extended") == 1


def _extend(config: Path, folder: Path, tsa_url: str) -> dict[str, dict[str, object]]:
    result = run_dpa("--config", str(config), "archive", "extend", str(folder), "--json", "--tsa", tsa_url)
    assert result.returncode == 0, result.stdout + result.stderr
    return {Path(str(d["file"])).name: d for d in map(json.loads, result.stdout.splitlines())}


def test_seal_without_revocation_services(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served_pki(tmp_path / "pki", monkeypatch, revocation_up=False) as served:
        relaxed = served.with_changes(require_revocation_data=False)
        with SigningSession(relaxed) as session:
            half, _ = session.sign_bytes(assembled_agreement, "processor")
            full, _ = session.sign_bytes(half, "controller")
        path = tmp_path / "full.pdf"
        path.write_bytes(full)
        with Archiver(served.config) as archiver:
            stopped = archiver.seal_file(path)
        assert stopped.action == "failed" and "no revocation data" in stopped.reason
        assert path.read_bytes() == full
        with Archiver(relaxed) as archiver:
            sealed = archiver.seal_file(path)
        assert sealed.action == "sealed" and sealed.warning and "without it" in sealed.warning
        assert path.read_bytes().startswith(full) and document_timestamp_fields(path.read_bytes())
        with Verifier(served.config) as verifier:  # sealed, but still without revocation data: not "not revoked"
            report = verifier.verify_file(path)
        assert (report.indication, report.sub_indication) == ("INDETERMINATE", "TRY_LATER"), report.problems


@pytest.mark.tampered("store/signed/*.pdf")  # the stored copy is changed behind dpa's back on purpose
def test_a_file_the_register_did_not_record_is_not_touched(
    signing_config: Config, assembled_agreement: bytes, tmp_path: Path
) -> None:
    config = local_paths(signing_config, tmp_path)
    (tmp_path / "store").mkdir()
    stored = ingested(config, assembled_agreement, tmp_path / "store", "C-1001")
    original = stored.read_bytes()
    with Archiver(config) as archiver:  # sealed without the register: the register lags one update behind
        assert archiver.seal_file(stored).action == "sealed"
    sealed = stored.read_bytes()
    with Register(config.paths.register) as register, Archiver(config, register=register) as archiver:
        row = register.by_signed_file(stored)
        assert row is not None and row.signed_sha256 == _sha(original)
        assert archiver.extend_file(stored).action == "not_due"  # the recorded copy plus an update: recognised
        stored.write_bytes(original.replace(b"C-1001", b"C-9001", 1))  # changed on disk behind dpa's back
        changed = stored.read_bytes()
        refused = archiver.extend_file(stored, within_days=5000)
        assert refused.action == "failed" and "not the signed copy the register recorded" in refused.reason
        assert stored.read_bytes() == changed
    assert _revision_hashes(sealed) >= {_sha(original), _sha(sealed)}
