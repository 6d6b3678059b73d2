"""Operators cannot overwrite evidence: generate/issue -o, sign -o/--in-place and register export against files the
register knows, as separate ``dpa`` processes (issue 9, cause 9). Each refusal leaves the register rows and every
file's hash as they were."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.register import Register
from tests.conftest import REPO, config_file_for, make_record
from tests.signing_support import assert_signed_ok, build_test_agreement, run_dpa

RECORD = REPO / "templates" / "examples" / "customer.toml"
TEMPLATE = "t" * 64


def snapshot(folder: Path) -> tuple[list[object], dict[str, str]]:
    """The register's rows and the SHA-256 of every file under ``folder`` (the register's own files aside)."""
    with Register(folder / "register.sqlite3", create=False) as register:
        rows: list[object] = list(register.agreements())
    files = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("register.sqlite3")
    }
    return rows, files


@pytest.fixture
def known(tmp_path: Path) -> dict[str, Path]:
    """A register that knows C-1's issued file and its stored signed copy, and C-10001's issued file."""
    files = {
        "issued": tmp_path / "C-1.pdf",
        "signed": tmp_path / "signed" / "C-1+1.pdf",
        "other": tmp_path / "C-10001.pdf",
    }
    files["signed"].parent.mkdir()
    files["issued"].write_bytes(build_test_agreement())
    files["signed"].write_bytes(files["issued"].read_bytes() + b"% the customer's signature would be here\n")
    files["other"].write_bytes(build_test_agreement() + b"% C-10001\n")
    with Register(tmp_path / "register.sqlite3") as register:
        for customer, path in (("C-1", files["issued"]), ("C-10001", files["other"])):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            register.record_issued(make_record(id=customer), TEMPLATE, path.resolve(), digest)
        signed_sha = hashlib.sha256(files["signed"].read_bytes()).hexdigest()
        register.record_ingest(1, files["signed"].resolve(), signed_sha, "TOTAL_PASSED", date(2026, 12, 1), "")
    return files


def refused(result: object, before: object, folder: Path, words: str) -> None:
    assert getattr(result, "returncode", None) == 1, getattr(result, "stderr", "")
    stderr: str = getattr(result, "stderr", "")
    assert stderr.startswith("dpa: error:") and words in stderr, stderr
    assert snapshot(folder) == before, "nothing written, nothing changed"


def test_generate_and_issue_never_overwrite_a_known_agreement(
    signing_config: Config, tmp_path: Path, known: dict[str, Path]
) -> None:
    config = config_file_for(signing_config, tmp_path)
    copy = tmp_path / "copy-of-the-issued-file.pdf"
    shutil.copyfile(known["issued"], copy)  # known by its content, wherever it lies
    before = snapshot(tmp_path)
    for target in (known["issued"], known["signed"], copy):
        result = run_dpa("--config", str(config), "generate", str(RECORD), "-o", str(target))
        refused(result, before, tmp_path, "dpa generate never overwrites it")
    for target, words in ((known["signed"], "signed agreement of C-1"), (known["issued"], "issued agreement of C-1")):
        result = run_dpa("--config", str(config), "issue", str(RECORD), "-o", str(target))
        refused(result, before, tmp_path, words)


def test_sign_in_place_refuses_a_known_agreement(
    signing_config: Config, tmp_path: Path, known: dict[str, Path]
) -> None:
    config = config_file_for(signing_config, tmp_path)
    before = snapshot(tmp_path)
    for path in (known["issued"], known["signed"]):
        result = run_dpa("--config", str(config), "sign", str(path), "--as", "controller", "--in-place")
        refused(result, before, tmp_path, "dpa sign --in-place never overwrites it")
    result = run_dpa(
        "--config", str(config), "sign", str(known["signed"]), "--as", "controller", "-o", str(known["issued"])
    )
    refused(result, before, tmp_path, "dpa sign never overwrites it")

    draft = tmp_path / "draft.pdf"  # a PDF the register does not know is signed in place as before
    draft.write_bytes(build_test_agreement() + b"% a draft\n")
    tsa = signing_config.tsa.urls[0]
    result = run_dpa("--config", str(config), "sign", str(draft), "--as", "processor", "--in-place", "--tsa", tsa)
    assert result.returncode == 0, result.stderr
    assert_signed_ok(draft, list(signing_config.trust.roots), ["processor_signature"])


def test_register_export_onto_evidence_or_a_foreign_file(
    signing_config: Config, tmp_path: Path, known: dict[str, Path]
) -> None:
    config = config_file_for(signing_config, tmp_path)
    notes = tmp_path / "notes.csv"
    notes.write_text("not,an,export\n", encoding="utf-8")
    before = snapshot(tmp_path)
    for target, extra in (
        (tmp_path / "register.sqlite3", ["--force"]),
        (known["issued"], ["--force"]),
        (known["signed"], ["--force"]),
        (notes, []),
    ):
        result = run_dpa("--config", str(config), "register", "export", str(target), *extra)
        refused(result, before, tmp_path, str(target))
    export = tmp_path / "export.csv"
    for _ in range(2):  # an earlier export is recognised and replaced
        assert run_dpa("--config", str(config), "register", "export", str(export)).returncode == 0
    forced = run_dpa("--config", str(config), "register", "export", str(notes), "--force")
    assert forced.returncode == 0 and notes.read_text(encoding="utf-8") == export.read_text(encoding="utf-8")
