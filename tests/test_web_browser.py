"""The web application in a real Chromium (Debian's, driven by Playwright) against a real ``dpa serve --dev`` —
the embedded set-up of ``make serve`` — on an ephemeral port: log in, issue through the form, a bad KvK, an
invitation kept in the outbox, verify a tampered PDF, ingest, a 20-row batch to 100 %, English; screenshots of
each page; and nothing secret in the log.

``DPA_WEB_SCREENSHOTS=docs/screenshots`` also writes the screenshots, small, where the README shows them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dpa.devtools.devpki import read_secrets_env
from dpa.workflows.demo import EXAMPLE_CUSTOMER
from tests.customers import customer_row, write_customers
from tests.signing_support import make_nss_db, pdfsig, run_dpa, running_tsa
from tests.tamper import add_page_content, incremental
from tests.web_support import ServerProcess, csrf_of, login, running_server

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORDS = {
    "sam": ("sales", "sam's password 1"),
    "lena": ("legal", "lena's password 2"),
    "olga": ("ops", "olga's password 3"),
}
ADMIN_PASSWORD = "admin's own password 4"
HOSTILE_NAME = 'Café "De Ster" & Zonen <Brood> \'t Hoekje B.V. – Ærø'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("serve")
    for name, (role, password) in PASSWORDS.items():
        added = run_dpa("users", "add", name, "--role", role, "--password-env", "PW", env={"PW": password}, cwd=cwd)
        assert added.returncode == 0, added.stderr
    with running_server(cwd, []) as process:
        yield process


class Shots:
    """Screenshots 1000 px wide; copied, reduced to a palette, where ``DPA_WEB_SCREENSHOTS`` says."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        target = os.environ.get("DPA_WEB_SCREENSHOTS")
        self.publish = Path(target) if target else None

    def take(self, page: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.publish is not None:
            from PIL import Image

            self.publish.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as image:
                image.convert("RGB").quantize(colors=64).save(self.publish / f"{name}.png", optimize=True)
        return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(tmp_path_factory.mktemp("screens"))


def new_page(browser: Any, server: ServerProcess, user: str | None = None, password: str | None = None) -> Any:
    context = browser.new_context(viewport={"width": 1000, "height": 720}, accept_downloads=True, base_url=server.url)
    page = context.new_page()
    if user is not None:
        page.goto("/login")
        page.fill("#username", user)
        page.fill("#password", password or PASSWORDS[user][1])
        page.click("button[name=login]")
        page.wait_for_load_state()
    return page


def test_admin_logs_in_with_the_one_time_password_and_must_change_it(
    browser: Any, server: ServerProcess, shots: Shots
) -> None:
    assert server.admin_password
    page = new_page(browser, server)
    page.goto("/agreements")
    assert page.url.endswith("/login?next=/agreements")
    shots.take(page, "login")
    page.fill("#username", "admin")
    page.fill("#password", server.admin_password)
    page.click("button[name=login]")
    assert page.url.endswith("/account/password")
    page.fill("#current_password", server.admin_password)
    page.fill("#new_password", ADMIN_PASSWORD)
    page.fill("#repeat_password", ADMIN_PASSWORD)
    page.click("form[action='/account/password'] button")
    assert page.locator("p.ok").is_visible()
    shots.take(page, "password")
    page.goto("/users")
    page.click("form[action='/users/sam/token'] button")
    assert page.locator("p.secret code").inner_text().startswith("dpa_")
    shots.take(page, "users")


def test_sales_issues_through_the_form_and_downloads_it(
    browser: Any, server: ServerProcess, shots: Shots, tmp_path: Path
) -> None:
    page = new_page(browser, server, "sam")
    page.goto("/agreements/new")
    # the e-mail domain is the one the development PKI's example controller signs with, so that ingest later
    # recognises that signer as this customer (DESIGN §6 "The signer is the customer")
    email = f"inkoop@{EXAMPLE_CUSTOMER['email'].split('@')[1]}"
    row = {**customer_row(1), "id": "WEB-1", "name": HOSTILE_NAME, "kvk": "1234", "email": email}
    for field, value in row.items():
        if field != "language":
            page.fill(f"#{field}", value)
    page.click("button[name=issue]")
    kvk = page.locator("#kvk")
    assert kvk.get_attribute("aria-invalid") == "true"
    assert page.locator("#kvk-error").inner_text() == "must be exactly 8 digits"
    assert kvk.get_attribute("aria-describedby") == "kvk-error"
    assert page.locator("#name").get_attribute("aria-invalid") is None
    assert page.locator("#name").input_value() == HOSTILE_NAME
    shots.take(page, "new-agreement-error")

    page.fill("#kvk", "60000001")
    page.click("button[name=issue]")
    page.wait_for_url(re.compile(r"/agreements/WEB-1\?rid=\d+"), timeout=180_000)
    assert page.locator("h1").inner_text().startswith(HOSTILE_NAME)
    assert "TOTAL_PASSED" in page.locator(".report").inner_text()
    shots.take(page, "agreement")
    with page.expect_download() as info:
        page.click("a[href^='/agreements/WEB-1/issued.pdf']")
    download = tmp_path / "WEB-1.pdf"
    info.value.save_as(download)

    pki = server.cwd / "output" / "dev-pki"
    signatures = {s.field: s for s in pdfsig(download, make_nss_db(tmp_path / "nss", pki / "ca.pem"))}
    processor = signatures["processor_signature"]
    assert processor.signature_valid and processor.certificate_trusted, processor.raw
    verified = run_dpa("--config", str(pki / "dpa.toml"), "verify", "--json", str(download), env=_secrets(server))
    assert verified.returncode == 0 and '"indication": "TOTAL_PASSED"' in verified.stdout, verified.stdout


def test_sales_invites_and_the_mail_waits_in_the_outbox_for_admins(
    browser: Any, server: ServerProcess, shots: Shots
) -> None:
    page = new_page(browser, server, "sam")
    page.goto("/agreements/WEB-1")
    page.click("#invite-form button[name=invite]")
    page.wait_for_load_state()
    assert "inkoop@" in page.locator(".invitations").inner_text()
    admin = new_page(browser, server, "admin", ADMIN_PASSWORD)
    admin.goto("/outbox")  # no [smtp] on the development PKI: the mail is kept, not sent
    first = admin.locator("table.list a").first
    assert "inkoop@" in admin.locator("table.list").inner_text()
    first.click()
    message = admin.locator("#message").inner_text()
    assert "WEB-1.pdf" in message and re.search(r"/s/[A-Za-z0-9_-]{20,}", message), message
    shots.take(admin, "outbox")
    sales = new_page(browser, server, "sam")
    assert sales.goto("/outbox").status == 403


def test_a_tampered_pdf_fails_on_the_verify_page(
    browser: Any, server: ServerProcess, shots: Shots, tmp_path: Path
) -> None:
    issued = next((server.cwd / "output").glob("WEB-1.pdf"))
    tampered = tmp_path / "WEB-1-tampered.pdf"
    tampered.write_bytes(incremental(issued.read_bytes(), add_page_content("Extra clausule: alles gratis")))
    page = new_page(browser, server, "lena")
    page.goto("/verify")
    page.set_input_files("#files", str(tampered))
    page.click("button[name=check]")
    result = page.locator(".result .report").inner_text()
    assert "TOTAL_FAILED" in result
    assert "the document was changed after this signature" in result, result
    shots.take(page, "verify")
    with page.expect_download() as info:
        page.click(".result a[href^='/verify/report/']")
    report = tmp_path / "report.pdf"
    info.value.save_as(report)
    text = subprocess.run(["pdftotext", str(report), "-"], capture_output=True, text=True, check=True).stdout
    assert "Verification report" in text and "TOTAL_FAILED" in text


def test_legal_ingests_the_counter_signed_agreement(
    browser: Any, server: ServerProcess, shots: Shots, tmp_path: Path
) -> None:
    pki = server.cwd / "output" / "dev-pki"
    returned = tmp_path / "WEB-1.pdf"
    with running_tsa(pki / "dpa.toml", _secrets(server)) as tsa:  # the customer counter-signs with their tool
        signed = run_dpa(
            "--config", str(pki / "dpa.toml"), "sign", str(server.cwd / "output" / "WEB-1.pdf"), "--as", "controller",
            "-o", str(returned), "--tsa", tsa.url, env=_secrets(server),
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
    page = new_page(browser, server, "lena")
    page.goto("/ingest")
    page.set_input_files("#files", [str(returned), str(server.cwd / "output" / "WEB-1.pdf")])
    page.click("button[name=take_in]")
    rows = page.locator("table.list tr")
    assert "aanvaard" in rows.nth(0).inner_text()
    assert re.search(r"effective from \d{4}-\d\d-\d\d", rows.nth(0).inner_text())
    assert "geweigerd" in rows.nth(1).inner_text() and "has not signed it yet" in rows.nth(1).inner_text()
    shots.take(page, "ingest")
    page.goto("/agreements?status=effective")
    assert "WEB-1" in page.locator("table.list").inner_text()
    page.goto("/agreements")
    shots.take(page, "agreements")
    verified = run_dpa("--config", str(pki / "dpa.toml"), "verify", "--json", str(returned), env=_secrets(server))
    assert '"complete": true' in verified.stdout, verified.stdout


def test_the_end_date_cannot_be_before_the_effective_date(browser: Any, server: ServerProcess) -> None:
    import httpx2

    page = new_page(browser, server, "lena")
    page.goto("/agreements/WEB-1")
    assert (
        page.locator("#on").get_attribute("min") == page.locator("#effective-date").inner_text()
    )  # the browser's check
    with httpx2.Client(base_url=server.url, follow_redirects=False) as client:  # and the server's, without it
        login(client, "lena", PASSWORDS["lena"][1])
        token = csrf_of(client.get("/agreements/WEB-1").text)
        refused = client.post("/agreements/WEB-1/end", data={"on": "2020-01-01", "csrf_token": token})
    assert refused.status_code == 409 and "before the agreement&#39;s effective date" in refused.text
    page.reload()
    assert "in werking" in page.locator("h1").inner_text()


def test_ops_runs_a_20_row_batch_to_100_percent(
    browser: Any, server: ServerProcess, shots: Shots, tmp_path: Path
) -> None:
    csv_path = write_customers(tmp_path / "crm.csv", [customer_row(i) for i in range(100, 120)])
    page = new_page(browser, server, "olga")
    page.goto("/batch")
    page.set_input_files("#csv", str(csv_path))
    page.click("button[name=validate]")
    assert "20" in page.locator(".summary").inner_text()
    shots.take(page, "batch-validated")
    page.click("button[name=start]")
    expect = playwright_api.expect  # locator assertions: the page's CSP forbids evaluating strings
    expect(page.locator("#percent")).to_have_text(re.compile(r"^[1-9]\d$"), timeout=300_000)
    shots.take(page, "batch-progress")
    expect(page.locator("#percent")).to_have_text("100", timeout=300_000)
    expect(page.locator("#state")).to_have_text("afgerond", timeout=120_000)  # the run has closed its manifest
    assert page.locator("#issued").inner_text() == "20" and page.locator("#failed").inner_text() == "0"
    assert page.locator("#manifest").is_visible()
    assert page.locator("#progress").get_attribute("value") == "100"
    with page.expect_download() as info:
        page.click("#manifest a")
    manifest = tmp_path / "manifest.csv"
    info.value.save_as(manifest)
    assert manifest.read_text().count(",ok,") == 20
    shots.take(page, "batch-done")
    batch_dir = server.cwd / "output" / "batch"
    pki = server.cwd / "output" / "dev-pki"
    verified = run_dpa("--config", str(pki / "dpa.toml"), "verify", "--json", str(batch_dir), env=_secrets(server))
    reports = [json.loads(line) for line in verified.stdout.splitlines()]
    assert len(reports) == 20 and all(r["indication"] == "TOTAL_PASSED" for r in reports), verified.stdout[-2000:]


def test_english_with_lang_en(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server, "lena")
    page.goto("/agreements?lang=en")
    assert page.locator("h1").inner_text() == "Agreements"
    page.goto("/verify")
    assert page.locator("h1").inner_text() == "Verify"
    page.goto("/verify?lang=nl")
    assert page.locator("h1").inner_text() == "Controleren"


def test_no_password_token_or_session_reaches_the_log(browser: Any, server: ServerProcess, tmp_path: Path) -> None:
    import httpx2

    token = run_dpa("users", "token", "lena", cwd=server.cwd).stdout.strip()
    assert token.startswith("dpa_")
    answer = httpx2.get(server.url + "api/agreements", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and any(a["customer_id"] == "WEB-1" for a in answer.json())
    page = new_page(browser, server, "sam")
    cookies = [c["value"] for c in page.context.cookies()]
    assert len(cookies) >= 2
    log = server.log_text()
    assert "GET /api/agreements 200" in log and "POST /login 303" in log
    secrets = [token, ADMIN_PASSWORD, *(p for _r, p in PASSWORDS.values()), *cookies]
    for secret in secrets:
        assert secret not in log, "a secret reached the server's log"
    assert server.admin_password is not None
    lines = [line for line in log.splitlines() if server.admin_password in line]
    assert lines == [f"dpa serve: log in as admin with the one-time password {server.admin_password}"]


def _secrets(server: ServerProcess) -> dict[str, str]:
    return read_secrets_env(server.cwd / "output" / "dev-pki" / "dev-secrets.env")
