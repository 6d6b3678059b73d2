"""``dpa verify`` (in-process; the exit codes and ``-P`` as a separate process): JSON Lines with exactly the §5
keys, the readable report in Europe/Amsterdam time, exit codes 0/1/3/4, folders walked, --trust and --at, and
hostile input (garbage, truncated, encrypted, huge) that gets a verdict and never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.devtools.devpki import DevPki, issue_cert, make_ca
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.effective_date import amsterdam_text
from dpa.verify.report import DOCUMENT_JSON_KEYS, SIGNATURE_JSON_KEYS
from tests import tamper
from tests.cli_support import Invoked, invoke
from tests.signing_support import run_dpa

pytestmark = pytest.mark.libreoffice


@dataclass(frozen=True)
class Files:
    """The agreements on disk, and the good one's bytes and countersignature time."""

    paths: dict[str, Path]
    good: bytes
    controller_time: dt.datetime

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


@pytest.fixture(scope="module")
def files(
    signing_config: Config, assembled_agreement: bytes, dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory
) -> Files:
    """A folder of agreements: good, half-signed, untimestamped, broken, not a PDF, encrypted."""
    folder = tmp_path_factory.mktemp("verify-cli")
    good = tamper.sign_both(signing_config, assembled_agreement)
    unstamped = tamper.pyhanko_sign(good.half, "controller_signature", dev_pki.controller, None)
    contents = {
        "full": good.full,
        "half": good.half,
        "unstamped": unstamped,
        "tampered": good.full + b"% een extra regel\n",
        "truncated": good.full[: len(good.full) // 3],
        "garbage": bytes(range(256)) * 50,
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / f"{name}.pdf"
        paths[name].write_bytes(data)
    encrypted = folder / "encrypted.pdf"
    subprocess.run(
        ["qpdf", "--encrypt", "", "eigenaar", "256", "--", str(paths["full"]), str(encrypted)],
        check=True,
        capture_output=True,
    )
    paths["encrypted"] = encrypted
    return Files(paths, good.full, good.controller_time)


def dpa_verify(config: Path, *args: str | Path) -> Invoked:
    return invoke("--config", str(config), "verify", *(str(a) for a in args))


def assert_no_traceback(result: Invoked | subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr


def test_json_lines_for_a_folder(dev_pki: DevPki, files: Files) -> None:
    folder = files["full"].parent
    result = dpa_verify(dev_pki.config_path, "--json", folder)
    assert_no_traceback(result)
    lines = result.stdout.splitlines()
    objects = [json.loads(line) for line in lines]
    names = sorted(Path(o["file"]).name for o in objects)
    assert names == sorted(p.name for p in folder.glob("*.pdf"))
    for obj in objects:
        assert tuple(obj) == DOCUMENT_JSON_KEYS
        for sig in obj["signatures"]:
            assert tuple(sig) == SIGNATURE_JSON_KEYS
    by_name = {Path(o["file"]).stem: o for o in objects}
    assert by_name["full"]["indication"] == "TOTAL_PASSED" and by_name["full"]["complete"] is True
    assert by_name["full"]["effective_date"] is not None
    assert by_name["half"]["indication"] == "TOTAL_PASSED" and by_name["half"]["complete"] is False
    assert by_name["unstamped"]["indication"] == "INDETERMINATE"
    for broken in ("tampered", "truncated", "garbage"):
        assert (by_name[broken]["indication"], by_name[broken]["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
        assert by_name[broken]["problems"]
    assert (by_name["encrypted"]["indication"], by_name["encrypted"]["sub_indication"]) == ("INDETERMINATE", "GENERIC")
    assert result.returncode == 1  # a TOTAL_FAILED among them
    assert "7 files:" in result.stderr


def test_readable_report_shows_amsterdam_times(dev_pki: DevPki, files: Files) -> None:
    result = dpa_verify(dev_pki.config_path, files["full"])
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"{amsterdam_text(files.controller_time)}, trusted timestamp" in out
    assert "CET (+01:00)" in out or "CEST (+02:00)" in out
    assert "Verwerker (processor)" in out and "Verwerkingsverantwoordelijke (controller)" in out
    assert "document: TOTAL_PASSED" in out and "complete: yes, both parties signed" in out
    assert "effective date: " in out and "(Europe/Amsterdam, art. 12.1)" in out
    unstamped = dpa_verify(dev_pki.config_path, files["unstamped"])
    assert "signer's clock, not trusted" in unstamped.stdout
    assert "no RFC 3161 timestamp" in unstamped.stdout


@pytest.mark.parametrize(
    ("names", "flags", "code"),
    [
        (["full"], [], 0),
        (["full", "half"], [], 0),
        (["full", "half"], ["--require-complete"], 4),
        (["full"], ["--require-complete"], 0),
        (["full", "unstamped"], [], 3),
        (["half", "unstamped"], ["--require-complete"], 3),
        (["full", "unstamped", "tampered"], [], 1),
        (["encrypted"], [], 3),
    ],
)
def test_exit_codes(dev_pki: DevPki, files: Files, names: list[str], flags: list[str], code: int) -> None:
    result = run_dpa("--config", str(dev_pki.config_path), "verify", *flags, *(str(files[n]) for n in names))
    assert_no_traceback(result)
    assert result.returncode == code, result.stdout + result.stderr


@pytest.mark.tampered("diep.pdf")  # nested 100 000 deep on purpose
def test_hostile_input_gets_a_verdict(dev_pki: DevPki, files: Files, tmp_path: Path) -> None:
    empty = tmp_path / "leeg.pdf"
    empty.write_bytes(b"")
    nested = tmp_path / "diep.pdf"
    nested.write_bytes(tamper.root_with(files.good, b"/Nest " + tamper.nested(100_000)))
    expected = {
        files["garbage"]: ("TOTAL_FAILED (FORMAT_FAILURE)", 1, "not a PDF"),
        files["truncated"]: ("TOTAL_FAILED (FORMAT_FAILURE)", 1, ""),
        files["encrypted"]: ("INDETERMINATE (GENERIC)", 3, "encrypted"),
        empty: ("TOTAL_FAILED (FORMAT_FAILURE)", 1, "empty"),
        nested: ("TOTAL_FAILED (FORMAT_FAILURE)", 1, "nested too deeply"),
    }
    for path, (verdict, code, says) in expected.items():
        result = dpa_verify(dev_pki.config_path, path)
        assert_no_traceback(result)
        assert result.returncode == code, result.stdout + result.stderr
        assert f"document: {verdict}" in result.stdout, result.stdout
        assert "  ! " in result.stdout and says in result.stdout  # the sentence says why
        assert "could not be completed" not in result.stdout  # not the catch-all


def test_huge_file_is_not_read(dev_pki: DevPki, files: Files, tmp_path: Path) -> None:
    config = tmp_path / "dpa.toml"
    config.write_text(
        dev_pki.config_path.read_text()
        .replace('tsa_roots = ["tsa-ca.pem"]', f'tsa_roots = ["{dev_pki.tsa_ca_path}"]')
        .replace('roots = ["ca.pem"]', f'roots = ["{dev_pki.ca_path}"]')
        .replace('cert = "signing-ca.pem"', f'cert = "{dev_pki.directory / "signing-ca.pem"}"')
        .replace(
            'processor_certificates = ["processor.pem"]',
            f'processor_certificates = ["{dev_pki.directory / "processor.pem"}"]\n'
            "max_file_bytes = 100000\ntimeout_s = 30",
        )
    )
    result = dpa_verify(config, "--json", files["full"])
    assert_no_traceback(result)
    report = json.loads(result.stdout)
    assert (report["indication"], report["sub_indication"], report["sha256"]) == ("INDETERMINATE", "GENERIC", None)
    assert "max_file_bytes" in report["problems"][0]
    assert result.returncode == 3


def test_trust_adds_roots(dev_pki: DevPki, signing_config: Config, files: Files, tmp_path: Path) -> None:
    """A customer signing with a certificate from its own CA: INDETERMINATE until legal adds that CA with --trust."""
    other_ca = make_ca("Klant CA")
    customer = issue_cert(other_ca, "Klant met eigen CA", organization="Klant B.V.")
    half = files["half"].read_bytes()
    signed = tmp_path / "eigen-ca.pdf"
    signed.write_bytes(
        tamper.with_revocation_data(
            tamper.pyhanko_sign(half, "controller_signature", customer, timestamper_from_config(signing_config)),
            other_ca,
        )
    )
    ca_file = tmp_path / "klant-ca.pem"
    ca_file.write_bytes(other_ca.cert_pem())
    without = dpa_verify(dev_pki.config_path, "--json", signed)
    assert without.returncode == 3
    assert json.loads(without.stdout)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    with_trust = dpa_verify(dev_pki.config_path, "--json", "--trust", ca_file, signed)
    assert with_trust.returncode == 0, with_trust.stdout
    assert json.loads(with_trust.stdout)["complete"] is True


def test_at_and_usage_errors(dev_pki: DevPki, files: Files, tmp_path: Path) -> None:
    early = dpa_verify(dev_pki.config_path, "--at", "2020-01-01", files["full"])
    assert early.returncode == 3
    assert "lies after the moment of validation" in early.stdout
    bad_at = dpa_verify(dev_pki.config_path, "--at", "morgen", files["full"])
    assert bad_at.returncode == 2 and "--at" in bad_at.stderr
    (tmp_path / "leeg").mkdir()
    no_pdfs = dpa_verify(dev_pki.config_path, tmp_path / "leeg")
    assert no_pdfs.returncode == 2 and "no PDF files" in no_pdfs.stderr
    missing = dpa_verify(dev_pki.config_path, tmp_path / "bestaat-niet.pdf")
    assert missing.returncode == 2


def test_without_trust_roots_one_line_error(files: Files, tmp_path: Path) -> None:
    result = invoke("verify", str(files["full"]), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("dpa: error: no trust roots")
    assert_no_traceback(result)


def test_python_files_in_the_current_folder_are_never_run(dev_pki: DevPki, files: Files, tmp_path: Path) -> None:
    """A returned delivery unpacked with a json.py beside the PDF: verifying in that folder must not run it."""
    marker = tmp_path / "pwned"
    for module in ("json.py", "base64.py"):
        (tmp_path / module).write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
    (tmp_path / "agreement.pdf").write_bytes(files["full"].read_bytes())
    result = run_dpa("--config", str(dev_pki.config_path), "verify", "agreement.pdf", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
