"""The customer's signing page (issue 14) end to end: a real ``dpa serve --dev`` whose mail goes to a real SMTP
server on loopback (aiosmtpd), Debian's Chromium driven by Playwright with WebCrypto, and the refusals over HTTP.

Sales invites from the agreement page; the customer opens the link from the mail, asks for a code, reads it from
the mail received and signs with a key Chromium made (non-extractable). The stored file is then checked by
``dpa verify``, ``pdfsig`` and the certificate itself; nothing stored holds a private key. The refusals: a used and
an expired link answer 410, five wrong codes lock a link, one link's code does not open another, a signature begun
in one browser context cannot be finished from another, and no token or code reaches the server's log.

``DPA_WEB_SCREENSHOTS=docs/screenshots`` also writes the screenshots where the README shows them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx2 as httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader

from dpa.devtools.devpki import read_secrets_env
from dpa.portal.invitations import iso, token_hash
from dpa.web.i18n import long_date
from tests.conftest import EXAMPLE_FIELDS
from tests.portal_support import SmtpServer, body, code_from, start_smtp, token_from
from tests.signing_support import make_nss_db, pdfsig, run_dpa
from tests.test_web_browser import Shots
from tests.web_support import ServerProcess, csrf_of, login, running_server

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")

SALES, SALES_PASSWORD, SALES_EMAIL = "sam", "sam's password 1", "sam@ipcall.example"
SIGNER = "Marieke van den Berg-Öztürk"
PKCS8_EC = bytes.fromhex("020100301306072a8648ce3d0201")
"""The start of a PKCS#8 PrivateKeyInfo for an EC key: version 0, then the id-ecPublicKey algorithm."""
STATIC = Path(__file__).parents[1] / "dpa" / "web" / "static" / "sign.js"
SEEN: list[str] = []
"""Every link token and one-time code the tests used (none may reach the server's log)."""


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("serve-signing")
    (cwd / "dpa.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nstarttls = false\nfrom = "contracten@ipcall.example"\n'
    )
    added = run_dpa(
        "users", "add", SALES, "--role", "sales", "--password-env", "PW", "--email", SALES_EMAIL,
        env={"PW": SALES_PASSWORD}, cwd=cwd,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    with running_server(cwd, []) as process:
        yield process


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(tmp_path_factory.mktemp("signing-screens"))


@pytest.fixture(scope="module")
def sales(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=300) as client:
        assert login(client, SALES, SALES_PASSWORD).status_code == 303
        yield client


@pytest.fixture(scope="module")
def agreements(server: ServerProcess) -> list[str]:
    """Three issued agreements for the example customer's domain (through the API, as a script would)."""
    token = run_dpa("users", "token", SALES, cwd=server.cwd).stdout.strip()
    headers = {"authorization": f"Bearer {token}"}
    made = []
    for n in (1, 2, 3):
        record = {**EXAMPLE_FIELDS, "id": f"SIGN-{n}", "signatory_name": SIGNER, "signatory_title": "directeur"}
        created = httpx.post(server.url + "api/agreements", json=record, headers=headers, timeout=300)
        assert created.status_code == 201, created.text
        made.append(record["id"])
    return made


def mail_to(smtp: SmtpServer, address: str, subject: str, after: int = 0, timeout: float = 60) -> EmailMessage:
    """The first message to ``address`` whose subject contains ``subject``, among those from number ``after`` on."""
    deadline = time.monotonic() + timeout
    while True:
        for message in smtp.messages[after:]:
            if address in str(message["To"]) and subject in str(message["Subject"]):
                return message
        assert time.monotonic() < deadline, f"no mail '{subject}' to {address}"
        smtp.wait_for(len(smtp.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))


def invite_over_http(sales: httpx.Client, smtp: SmtpServer, customer_id: str) -> str:
    """Press the agreement page's invite button (as a form POST) and return the token from the mail."""
    before = len(smtp.messages)
    page = sales.get(f"/agreements/{customer_id}")
    action = re.search(r'action="(/agreements/[^"]+/invite\?rid=\d+)"', page.text)
    assert action, "the agreement page has the invite button"
    answer = sales.post(action.group(1).replace("&amp;", "&"), data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303, answer.text
    token = token_from(mail_to(smtp, EXAMPLE_FIELDS["email"], "", after=before))
    SEEN.append(token)
    return token


def request_code_over_http(client: httpx.Client, smtp: SmtpServer, token: str) -> str:
    """The customer's form (name, title, statement) and ``request_code``; the code from the mail."""
    before = len(smtp.messages)
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    form = {"signatory_name": SIGNER, "signatory_title": "directeur", "agree": "yes", "csrf_token": csrf_of(page.text)}
    answer = client.post(f"/s/{token}/code", data=form)
    assert answer.status_code == 200 and 'id="code-sent"' in answer.text, answer.text
    code = code_from(mail_to(smtp, EXAMPLE_FIELDS["email"], "code", after=before))
    SEEN.append(code)
    return code


def confirm(client: httpx.Client, token: str, code: str, csrf: str) -> httpx.Response:
    """The browser's first step (sign.js ``confirm``), with the CSRF token of the page the client has open."""
    return client.post(f"/s/{token}/confirm", data={"code": code, "csrf_token": csrf}, headers=JSON)


def test_sales_invites_and_the_customer_signs_in_chromium(
    browser: Any, server: ServerProcess, smtp: SmtpServer, agreements: list[str], shots: Shots, tmp_path: Path
) -> None:
    customer_id = agreements[0]
    sales_page = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url).new_page()
    sales_page.goto("/login")
    sales_page.fill("#username", SALES)
    sales_page.fill("#password", SALES_PASSWORD)
    sales_page.click("button[name=login]")
    sales_page.goto(f"/agreements/{customer_id}")
    before = len(smtp.messages)
    sales_page.click("#invite-form button[name=invite]")
    sales_page.wait_for_load_state()
    assert EXAMPLE_FIELDS["email"] in sales_page.locator(".invitations").inner_text()
    invitation = mail_to(smtp, EXAMPLE_FIELDS["email"], "", after=before)
    assert any(p.get_filename() == f"{customer_id}.pdf" for p in invitation.iter_attachments())
    token = token_from(invitation)
    SEEN.append(token)

    signer = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url, accept_downloads=True)
    key_requests: list[dict[str, Any]] = []
    signer.expose_binding("dpaReportKey", lambda _source, args: key_requests.append(json.loads(args)))
    signer.add_init_script(script=KEY_SPY)
    page = signer.new_page()
    page.goto(f"/s/{token}")
    assert page.locator("#signatory_name").input_value() == SIGNER
    assert page.locator("#signatory_title").input_value() == "directeur"
    assert EXAMPLE_FIELDS["name"] in page.locator("#party-controller").inner_text()
    assert page.locator(".page-scroll img").count() >= 2
    shots.take(page, "signing-page")
    page.check("#agree")
    page.click("button[name=request_code]")
    expect = playwright_api.expect
    expect(page.locator("#code-sent")).to_be_visible()
    code = code_from(mail_to(smtp, EXAMPLE_FIELDS["email"], "code", after=before))
    SEEN.append(code)
    shots.take(page, "signing-code-sent")
    page.fill("#code", code)
    page.click("#sign")
    page.wait_for_url(re.compile(r"/s/[^/]+/done$"), timeout=300_000)
    today = dt.date.today()
    expect(page.locator("#in-force")).to_have_text(f"De overeenkomst is in werking vanaf {long_date(today, 'nl')}.")
    shots.take(page, "signing-done")
    with page.expect_download() as info:
        page.click("#download-signed")
    signed = tmp_path / f"{customer_id}.signed.pdf"
    info.value.save_as(signed)

    assert key_requests == [{"algorithm": {"name": "ECDSA", "namedCurve": "P-256"}, "extractable": False,
                             "usages": ["sign"], "private_extractable": False}]  # fmt: skip
    assert re.search(r'generateKey\(ECDSA_KEY, false, \["sign"\]\)', STATIC.read_text())
    check_signed_file(server, signed, today, tmp_path / "nss")
    with sqlite3.connect(server.cwd / "output" / "register.sqlite3") as db:
        row = db.execute(
            "SELECT status, effective_date, signed_file FROM agreements WHERE customer_id = ? ORDER BY id DESC",
            (customer_id,),
        ).fetchone()
    db.close()
    assert row[:2] == ("effective", today.isoformat())
    assert Path(row[2]).read_bytes() == signed.read_bytes()  # the stored file is the one the page hands out
    assert_no_private_key_stored(server.cwd)

    copy = mail_to(smtp, EXAMPLE_FIELDS["email"], "Ondertekende", after=before)
    assert any(p.get_content() == signed.read_bytes() for p in copy.iter_attachments())
    notice = mail_to(smtp, SALES_EMAIL, "Getekend", after=before)
    assert customer_id in body(notice)

    sales_page.goto(f"/agreements/{customer_id}")
    evidence = sales_page.locator("#evidence").inner_text()
    assert "eenmalige code" in evidence or "one-time code" in evidence, evidence
    assert "in werking" in sales_page.locator("h1").inner_text()
    shots.take(sales_page, "agreement-evidence")
    report = sales_page.request.get(f"/agreements/{customer_id}/report.pdf")
    assert report.status == 200
    (tmp_path / "report.pdf").write_bytes(report.body())
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True, check=True)
    words = " ".join(text.stdout.split())
    assert "e-mail address confirmed by a one-time code" in words and "TOTAL_PASSED" in words, words[-3000:]

    page.goto(f"/s/{token}")  # the link, once used
    assert page.locator("#gone").is_visible()
    shots.take(page, "signing-used")
    with httpx.Client(base_url=server.url) as anyone:
        assert anyone.get(f"/s/{token}").status_code == 410
        assert anyone.post(f"/s/{token}/code", data={}).status_code in (403, 410)
    signer.close()
    sales_page.context.close()


JSON = {"accept": "application/json"}


def test_codes_are_per_link_five_wrong_ones_lock_and_a_signature_stays_in_its_browser_context(
    browser: Any,
    server: ServerProcess,
    smtp: SmtpServer,
    agreements: list[str],
    sales: httpx.Client,
    shots: Shots,
    tmp_path: Path,
) -> None:
    token_2 = invite_over_http(sales, smtp, agreements[1])
    token_3 = invite_over_http(sales, smtp, agreements[2])

    # the signer of link 3 in Chromium (context A) asks for a code
    context_a = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url)
    page_a = context_a.new_page()
    before = len(smtp.messages)
    page_a.goto(f"/s/{token_3}")
    page_a.check("#agree")
    page_a.click("button[name=request_code]")
    code_3 = code_from(mail_to(smtp, EXAMPLE_FIELDS["email"], "code", after=before))
    SEEN.append(code_3)

    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=120) as customer:
        code_2 = request_code_over_http(customer, smtp, token_2)
        assert code_3 != code_2
        csrf = csrf_of(customer.get(f"/s/{token_2}").text)
        other = confirm(customer, token_2, code_3, csrf)  # link 3's code on link 2
        assert other.status_code == 403 and "code" in other.json()["error"], other.text
        wrong = f"{(int(code_2) + 1) % 1_000_000:06d}"
        answers = [confirm(customer, token_2, wrong, csrf).status_code for _ in range(4)]  # 5 wrong ones in all
        assert answers[:3] == [403, 403, 403] and answers[3] in (403, 410), answers
        assert confirm(customer, token_2, code_2, csrf).status_code == 410  # the right code no longer helps
        gone = customer.get(f"/s/{token_2}")
        assert gone.status_code == 410 and "geblokkeerd na 5 verkeerde codes" in gone.text

    locked = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url).new_page()
    locked.goto(f"/s/{token_2}")
    shots.take(locked, "signing-locked")
    locked.context.close()

    # context A starts signing; its last step (finish) is held back while context B tries it
    held: list[Any] = []
    page_a.route("**/finish", lambda route: held.append(route))
    page_a.fill("#code", code_3)
    page_a.click("#sign")
    deadline = time.monotonic() + 300
    while not held:
        assert time.monotonic() < deadline, "the page never reached its last step"
        page_a.wait_for_timeout(200)
    signature = parse_qs(held[0].request.post_data or "")["signature"][0]

    context_b = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url)
    page_b = context_b.new_page()
    page_b.goto(f"/s/{token_3}")
    csrf_b = page_b.locator("#code-form input[name=csrf_token]").input_value()
    for step, form in (("finish", {"signature": signature}), ("prepare", {}), ("challenge", {})):
        answer = page_b.request.post(f"/s/{token_3}/{step}", form={**form, "csrf_token": csrf_b}, headers=JSON)
        assert answer.status == 403, (step, answer.status, answer.text())

    held[0].continue_()  # context A's own finish goes through
    page_a.wait_for_url(re.compile(r"/s/[^/]+/done$"), timeout=300_000)
    assert "in werking vanaf" in page_a.locator("#in-force").inner_text()
    for tail in ("done", "signed.pdf"):  # the signed copy is for the browser session that signed
        assert page_b.request.get(f"/s/{token_3}/{tail}").status == 410
    with sqlite3.connect(server.cwd / "output" / "register.sqlite3") as db:
        stored = db.execute(
            "SELECT signed_file FROM agreements WHERE customer_id = ? AND status = 'effective'", (agreements[2],)
        ).fetchone()
    db.close()
    check_signed_file(server, Path(stored[0]), dt.date.today(), tmp_path / "nss")
    context_a.close()
    context_b.close()


def test_an_expired_link_answers_410(
    browser: Any, server: ServerProcess, smtp: SmtpServer, agreements: list[str], sales: httpx.Client, shots: Shots
) -> None:
    token = invite_over_http(sales, smtp, agreements[1])  # a new link after the locked one
    register = server.cwd / "output" / "register.sqlite3"
    with httpx.Client(base_url=server.url, timeout=300) as customer:
        events_before = count_events(register)
        page = customer.get(f"/s/{token}")  # what a mail scanner's prefetch does
        issued = customer.get(f"/s/{token}/agreement.pdf")
        assert page.status_code == 200 and issued.status_code == 200
        assert issued.headers["content-disposition"].startswith("attachment;")
        assert count_events(register) == events_before, "a GET of the link changed the register"
        unsigned = customer.post(
            f"/s/{token}/upload",
            data={"csrf_token": csrf_of(page.text)},
            files={"file": ("returned.pdf", issued.content, "application/pdf")},
        )  # the issued file sent back as if signed: ingest's words
        assert unsigned.status_code == 422 and "has not signed it yet" in unsigned.text, unsigned.text[-2000:]
        past = iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        with sqlite3.connect(register) as db:  # the link's days have gone by
            changed = db.execute(
                "UPDATE portal_invitations SET expires_at = ? WHERE token_sha256 = ?", (past, token_hash(token))
            )
            assert changed.rowcount == 1
        db.close()
        gone = customer.get(f"/s/{token}")
        assert gone.status_code == 410 and "verlopen" in gone.text
        assert customer.get(f"/s/{token}/agreement.pdf").status_code == 410
        english = customer.get(f"/s/{token}?lang=en")
        assert english.status_code == 410 and "This signing link has expired" in english.text
    page = browser.new_context(viewport={"width": 1000, "height": 720}, base_url=server.url).new_page()
    page.goto(f"/s/{token}?lang=en")
    shots.take(page, "signing-expired")
    page.context.close()


def test_no_token_or_code_reaches_the_servers_log(server: ServerProcess) -> None:
    log = server.log_text()
    assert re.search(r"POST /s/\S+/code 200", log) and re.search(r"GET /s/\S+ 410", log), log[-3000:]
    assert len(SEEN) >= 7, SEEN  # the tests above ran: four links, three codes
    for secret in SEEN:
        assert secret not in log, "a link token or one-time code reached the server's log"


def count_events(register: Path) -> int:
    """How many events the register holds."""
    with sqlite3.connect(register) as db:
        (count,) = db.execute("SELECT count(*) FROM events").fetchone()
    db.close()
    return int(count)


def test_the_customer_signing_crl_is_served_where_its_certificates_point(server: ServerProcess) -> None:
    answer = httpx.get(server.url + "ca/customer-signing.crl")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(answer.content)
    ca = x509.load_pem_x509_certificate((server.cwd / "output" / "dev-pki" / "signing-ca.pem").read_bytes())
    assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]


KEY_SPY = """
(function () {
  var subtle = window.crypto && window.crypto.subtle;
  if (!subtle) { return; }
  var original = subtle.generateKey.bind(subtle);
  subtle.generateKey = async function (algorithm, extractable, usages) {
    var keys = await original(algorithm, extractable, usages);
    window.dpaReportKey(JSON.stringify({algorithm: algorithm, extractable: extractable, usages: usages,
                                        private_extractable: keys.privateKey.extractable}));
    return keys;
  };
}());
"""
"""Records how the page's script asks for its key (injected by the browser's devtools, not by the page)."""


def check_signed_file(server: ServerProcess, signed: Path, today: dt.date, nss_dir: Path) -> None:
    """The signed agreement: TOTAL_PASSED and complete, effective today, both signatures valid for pdfsig, and the
    controller's certificate in the signatory's name on an EC P-256 key."""
    pki = server.cwd / "output" / "dev-pki"
    secrets = read_secrets_env(pki / "dev-secrets.env")
    # no --trust: verify trusts [signing_ca] for the controller's signature of dpa's agreements by itself
    verified = run_dpa("--config", str(pki / "dpa.toml"), "verify", "--json", str(signed), env=secrets)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0, verified.stdout
    assert report["indication"] == "TOTAL_PASSED" and report["complete"] is True, report
    assert report["effective_date"] == today.isoformat(), report
    assert report["pades_level"] == "B-LTA", report  # the CRLs in the DSS, and sealed when the signing page ingested it

    nss = make_nss_db(nss_dir, pki / "ca.pem")
    subprocess.run(
        ["certutil", "-A", "-n", "signing-ca", "-t", "CT,C,C", "-i", str(pki / "signing-ca.pem"), "-d", f"sql:{nss}"],
        check=True,
        capture_output=True,
    )
    signatures = {s.field: s for s in pdfsig(signed, nss)}
    # and the seal: an archive timestamp (poppler 22 does not check document timestamps; dpa verify did above)
    assert set(signatures) == {"processor_signature", "controller_signature", "archive_timestamp_1"}, signatures
    for field in ("processor_signature", "controller_signature"):
        assert signatures[field].signature_valid and signatures[field].certificate_trusted, signatures[field].raw

    with signed.open("rb") as handle:
        reader = PdfFileReader(handle)
        controller = next(s for s in reader.embedded_signatures if s.field_name == "controller_signature")
        cert = controller.signer_cert
    certificate = x509.load_der_x509_certificate(cert.dump())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SIGNER
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == EXAMPLE_FIELDS["name"]
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)


def assert_no_private_key_stored(cwd: Path) -> None:
    """No file the server wrote (the register and its rows, the agreements, the page images, the mail it kept) holds
    a PKCS#8 structure. The development PKI's own keys (ipcall.me's, files under ``dev-pki``) are left out."""
    files = [p for p in cwd.rglob("*") if p.is_file() and "dev-pki" not in p.relative_to(cwd).parts]
    assert any(p.name.endswith(".sqlite3") for p in files) and any(p.suffix == ".png" for p in files), files
    markers = [PKCS8_EC, b"PRIVATE KEY", *base64_forms(PKCS8_EC)]
    for path in files:
        data = path.read_bytes()
        for marker in markers:
            assert marker not in data, f"{path} holds a private key structure"
    register = next(p for p in files if p.name == "register.sqlite3")
    with sqlite3.connect(register) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names from sqlite_master
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    assert not any(marker in raw for marker in markers), (table, row)
    db.close()


def base64_forms(data: bytes) -> list[bytes]:
    """What ``data`` looks like inside base64 text, whichever of the three byte offsets it starts at."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data)
        start = 4 if offset else 0  # the group holding the padding bytes differs
        forms.append(encoded[start : len(encoded) - 4])
    return forms
