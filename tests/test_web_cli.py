"""``dpa users`` and ``dpa verify --report`` as separate processes, and the PDF/A verification report itself."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import subprocess
import threading
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.verify.report_pdf import refusing_url_fetcher, revisions
from tests.conftest import REPO
from tests.signing_support import run_dpa
from tests.tamper import sign_both

PASSWORD = "a long enough password"


def test_users_commands(tmp_path: Path) -> None:
    added = run_dpa(
        "users", "add", "anna", "--role", "legal", "--password-env", "PW", env={"PW": PASSWORD}, cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    once = run_dpa("users", "add", "bert", "--role", "sales", "--email", " bert@ipcall.example ", cwd=tmp_path)
    assert once.returncode == 0 and re.fullmatch(r"one-time password for bert: \S{20}\n", once.stdout), once.stdout
    listed = run_dpa("users", "list", "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["role"], r["state"], r["email"]) for r in rows] == [
        ("anna", "legal", "active", None),
        ("bert", "sales", "active", "bert@ipcall.example"),
    ]
    token = run_dpa("users", "token", "anna", cwd=tmp_path)
    assert token.returncode == 0 and token.stdout.startswith("dpa_")
    revoked = run_dpa("users", "token", "anna", "--revoke", cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked 1 token(s) of anna" in revoked.stderr
    disabled = run_dpa("users", "disable", "bert", cwd=tmp_path)
    assert disabled.returncode == 0
    assert "bert\tsales\tdisabled" in run_dpa("users", "list", cwd=tmp_path).stdout


def test_users_errors_are_one_line(tmp_path: Path) -> None:
    short = run_dpa(
        "users", "add", "anna", "--role", "legal", "--password-env", "PW", env={"PW": "short"}, cwd=tmp_path
    )
    assert short.returncode == 1 and short.stderr == "dpa: error: a password needs at least 12 characters\n"
    unset = run_dpa("users", "add", "anna", "--role", "legal", "--password-env", "NOT_SET_ANYWHERE", cwd=tmp_path)
    assert unset.stderr == "dpa: error: the environment variable NOT_SET_ANYWHERE is not set or empty\n"
    assert run_dpa("users", "disable", "nobody", cwd=tmp_path).stderr == "dpa: error: no user named nobody\n"
    assert run_dpa("users", "add", "x", "--role", "root", cwd=tmp_path).returncode == 2
    bidi = run_dpa("users", "add", "carl", "--role", "sales", "--email", "carl@ipcall.example\u202e", cwd=tmp_path)
    assert bidi.returncode == 1 and bidi.stderr == "dpa: error: 'carl@ipcall.example\\u202e' is not an e-mail address\n"
    assert "carl" not in run_dpa("users", "list", cwd=tmp_path).stdout


def test_the_readme_shows_the_web_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = ["make serve", "dpa serve", "dpa users add", "dpa users list", "dpa users disable", "dpa users token"]
    for command in [*commands, "--revoke", "dpa verify", "--report"]:
        assert command in readme, command
    for page in ("login", "agreements", "agreement", "new-agreement-error", "verify", "ingest", "batch-done", "users"):
        assert f"docs/screenshots/{page}.png" in readme, page
        assert (REPO / "docs" / "screenshots" / f"{page}.png").stat().st_size < 80_000


@pytest.mark.slow
def test_verify_report_is_a_pdfa_with_the_facts(
    signing_config: Config, dev_pki: DevPki, assembled_agreement: bytes, tmp_path: Path
) -> None:
    signed = sign_both(signing_config, assembled_agreement)
    pdf = tmp_path / "C-1001.signed.pdf"
    pdf.write_bytes(signed.full)
    out = tmp_path / "report.pdf"
    result = run_dpa("--config", str(dev_pki.config_path), "verify", str(pdf), "--report", str(out))
    assert result.returncode == 0, result.stderr
    meta = subprocess.run(["pdfinfo", "-meta", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"pdfaid:part[>=\"']+3", meta) and re.search(r"pdfaid:conformance[>=\"']+B", meta), meta
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    assert hashlib.sha256(signed.full).hexdigest() in flat.replace(" ", "")
    for revision in revisions(signed.full):
        assert revision.sha256 in flat.replace(" ", "")
    assert len(revisions(signed.full)) >= 3
    template_version = re.search(rb"/DPATemplateVersion \((\w+)\)", signed.full)
    assert template_version and template_version.group(1).decode() in flat.replace(" ", "")
    assert "Effective date" in flat and re.search(r"Effective date \d{4}-\d\d-\d\d", flat)
    assert flat.count("TOTAL_PASSED") >= 3 and "yes, both parties signed" in flat
    assert flat.count("CN=dpa development CA") == 2, "each chain reaches the CA"
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+[12]\b", info)
    two = run_dpa("--config", str(dev_pki.config_path), "verify", str(pdf), str(pdf), "--report", str(out))
    assert two.returncode == 2 and "--report takes exactly one PDF" in two.stderr


def test_the_report_template_loads_nothing_from_outside() -> None:
    import weasyprint

    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x.png"
        html = f'<img src="{url}"><link rel="stylesheet" href="{url}.css"><p style="background: url({url})">x</p>'
        weasyprint.HTML(string=html, url_fetcher=refusing_url_fetcher()).write_pdf()
        httpd.shutdown()
    assert requests == []
