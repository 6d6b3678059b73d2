"""The web application over HTTP (Starlette's test client on the real app, real register, real TSA, real
LibreOffice and verification workers): sessions, roles, CSRF, upload cap, tokens, lockout, API = CLI."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from dpa.accounts import Accounts
from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.register import Register
from dpa.web.app import create_app
from dpa.web.routes import agreements, api, batch, documents, outbox, session, signing, users
from dpa.web.runtime import WebRuntime
from tests import tamper
from tests.conftest import EXAMPLE_FIELDS, local_paths
from tests.signing_support import run_dpa
from tests.web_support import csrf_of, login

PASSWORD = "correct horse battery"
ROLES = ("sales", "legal", "ops", "admin")
EVERYONE = set(ROLES)
# DESIGN.md §10, written out once more here: the test must not read the table it checks from the code.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/agreements"): {"sales", "legal", "ops"},
    ("GET", "/agreements/new"): {"sales", "legal"},
    ("POST", "/agreements/new"): {"sales", "legal"},
    ("GET", "/agreements/{customer_id}"): {"sales", "legal"},
    ("GET", "/agreements/{customer_id}/issued.pdf"): {"sales", "legal"},
    ("GET", "/agreements/{customer_id}/signed.pdf"): {"sales", "legal"},
    ("GET", "/agreements/{customer_id}/report.pdf"): {"sales", "legal"},
    ("POST", "/agreements/{customer_id}/invite"): {"sales", "legal"},
    ("POST", "/agreements/{customer_id}/end"): {"legal"},
    ("POST", "/agreements/{customer_id}/purge"): {"legal"},
    ("GET", "/verify"): {"sales", "legal"},
    ("POST", "/verify"): {"sales", "legal"},
    ("GET", "/verify/report/{key}.pdf"): {"sales", "legal"},
    ("GET", "/ingest"): {"legal"},
    ("POST", "/ingest"): {"legal"},
    ("GET", "/batch"): {"ops", "legal"},
    ("POST", "/batch"): {"ops", "legal"},
    ("GET", "/batch/{job_id}"): {"ops", "legal"},
    ("POST", "/batch/{job_id}/start"): {"ops", "legal"},
    ("GET", "/batch/{job_id}/progress"): {"ops", "legal"},
    ("GET", "/batch/{job_id}/manifest.csv"): {"ops", "legal"},
    ("GET", "/users"): {"admin"},
    ("POST", "/users"): {"admin"},
    ("POST", "/users/{name}/disable"): {"admin"},
    ("POST", "/users/{name}/token"): {"admin"},
    ("POST", "/users/{name}/revoke"): {"admin"},
    ("GET", "/outbox"): {"admin"},
    ("GET", "/outbox/{name}"): {"admin"},
    ("GET", "/account/password"): EVERYONE,
    ("POST", "/account/password"): EVERYONE,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/api/agreements"): {"sales", "legal", "ops"},
    ("POST", "/api/agreements"): {"sales", "legal"},
    ("GET", "/api/agreements/{customer_id}"): {"sales", "legal"},
    ("POST", "/api/verify"): {"sales", "legal"},
    ("POST", "/api/ingest"): {"legal"},
    ("GET", "/api/openapi.json"): EVERYONE,
}
PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("GET", "/ca/customer-signing.crl")}
# The customer's signing page (DESIGN.md §11) has no account: the link's token is the credential.
SIGNING_LINK = {
    ("GET", f"/s/{{token}}{tail}") for tail in ("", "/agreement.pdf", "/page-{number}.png", "/done", "/signed.pdf")
}
SIGNING_LINK |= {
    ("POST", f"/s/{{token}}/{step}") for step in ("code", "confirm", "challenge", "certificate", "prepare")
}
SIGNING_LINK |= {("POST", "/s/{token}/finish"), ("POST", "/s/{token}/upload")}


@pytest.fixture(scope="module")
def runtime(signing_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebRuntime]:
    folder = tmp_path_factory.mktemp("web-http")
    config = local_paths(signing_config, folder)
    config = dataclasses.replace(config, web=dataclasses.replace(config.web, max_upload_mb=1, verify_workers=1))
    runtime = WebRuntime.start(config)
    for role in ROLES:
        runtime.accounts.add(f"{role}-user", role, PASSWORD)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def app_client(runtime: WebRuntime) -> Iterator[TestClient]:
    app = create_app(runtime)
    with TestClient(app) as client:
        client.web_app = app  # type: ignore[attr-defined]
        yield client


def client_for(app_client: TestClient) -> TestClient:
    """A fresh cookie jar on the same application."""
    return TestClient(app_client.web_app, follow_redirects=False)  # type: ignore[attr-defined]


def logged_in(app_client: TestClient, role: str) -> TestClient:
    client = client_for(app_client)
    assert login(client, f"{role}-user", PASSWORD).status_code == 303  # type: ignore[arg-type]
    return client


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def routes() -> set[tuple[str, str]]:
    """Every route of the application's routers."""
    found = set()
    for module in (agreements, api, batch, documents, outbox, session, signing, users):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            found.update((method, route.path) for method in route.methods if method != "HEAD")
    return found


def test_every_route_has_its_roles_written_down(app_client: TestClient) -> None:
    assert routes() == set(ALLOWED) | PUBLIC | SIGNING_LINK
    assert {r.path for r in api.router.routes} <= {p for _m, p in ALLOWED}


def test_without_a_session_pages_redirect_to_login_and_the_api_answers_401(app_client: TestClient) -> None:
    client = client_for(app_client)
    token = csrf_of(client.get("/login").text)
    for method, path in sorted(ALLOWED):
        data = {"csrf_token": token} if method == "POST" and not path.startswith("/api/") else None
        response = client.request(method, concrete(path), data=data)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login"), (method, path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_403_outside_its_routes(app_client: TestClient, runtime: WebRuntime, role: str) -> None:
    client = logged_in(app_client, role)
    token = csrf_of(client.get("/account/password").text)
    bearer = {"authorization": f"Bearer {runtime.accounts.issue_token(f'{role}-user')}"}
    for (method, path), allowed in sorted(ALLOWED.items()):
        if path in ("/logout", "/account/password"):
            continue
        api = path.startswith("/api/")
        response = client.request(
            method,
            concrete(path),
            data={"csrf_token": token} if method == "POST" and not api else None,
            headers=bearer if api else None,
        )
        if role in allowed:
            assert response.status_code != 403, (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_a_post_without_the_csrf_token_gets_403(app_client: TestClient) -> None:
    client = logged_in(app_client, "sales")
    response = client.post("/agreements/new", data={"id": "C-9", "name": "X"})
    assert response.status_code == 403
    forged = client.post("/agreements/new", data={"id": "C-9", "name": "X", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    stranger = client_for(app_client)
    other_token = csrf_of(stranger.get("/login").text)  # a token for another browser's cookie
    assert client.post("/agreements/new", data={"id": "C-9", "csrf_token": other_token}).status_code == 403
    login_page = client_for(app_client)
    login_page.get("/login")
    assert login_page.post("/login", data={"username": "sales-user", "password": PASSWORD}).status_code == 403


def test_an_oversized_upload_gets_413(app_client: TestClient, runtime: WebRuntime) -> None:
    client = logged_in(app_client, "legal")
    token = csrf_of(client.get("/verify").text)
    big = b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 100 * 1024)
    response = client.post("/verify", data={"csrf_token": token}, files={"files": ("big.pdf", big, "application/pdf")})
    assert response.status_code == 413
    bearer = {"authorization": f"Bearer {runtime.accounts.issue_token('legal-user')}"}
    api = client.post("/api/verify", headers=bearer, files={"file": ("big.pdf", big, "application/pdf")})
    assert api.status_code == 413
    assert not list(runtime.upload_dir.glob("**/*.pdf")) if runtime.upload_dir.exists() else True


def test_a_revoked_token_stops_working(app_client: TestClient, runtime: WebRuntime) -> None:
    client = client_for(app_client)
    token = runtime.accounts.issue_token("ops-user")
    headers = {"authorization": f"Bearer {token}"}
    assert client.get("/api/agreements", headers=headers).status_code == 200
    runtime.accounts.revoke_tokens("ops-user")
    assert client.get("/api/agreements", headers=headers).status_code == 401


def test_five_wrong_passwords_lock_the_account(app_client: TestClient, runtime: WebRuntime) -> None:
    runtime.accounts.add("locked-user", "sales", PASSWORD)
    client = client_for(app_client)
    for _ in range(5):
        response = login(client, "locked-user", "not the password")  # type: ignore[arg-type]
        assert response.status_code == 401
        assert 'aria-invalid="true"' in response.text
    response = login(client, "locked-user", PASSWORD)  # type: ignore[arg-type]
    assert response.status_code == 401 and "locked for 15 minutes" in response.text
    assert "dpa_session" not in client.cookies


def test_a_disabled_users_session_ends(app_client: TestClient, runtime: WebRuntime) -> None:
    runtime.accounts.add("leaving-user", "sales", PASSWORD)
    client = client_for(app_client)
    assert login(client, "leaving-user", PASSWORD).status_code == 303  # type: ignore[arg-type]
    assert client.get("/agreements").status_code == 200
    admin = logged_in(app_client, "admin")
    token = csrf_of(admin.get("/users").text)
    assert admin.post("/users/leaving-user/disable", data={"csrf_token": token}).status_code == 200
    response = client.get("/agreements")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_security_headers_and_cookie_flags(app_client: TestClient) -> None:
    client = client_for(app_client)
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    response = client.post(
        "/login", data={"username": "sales-user", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_the_record_form_puts_each_problem_next_to_its_field(app_client: TestClient) -> None:
    client = logged_in(app_client, "sales")
    token = csrf_of(client.get("/agreements/new").text)
    response = client.post(
        "/agreements/new", data={**EXAMPLE_FIELDS, "kvk": "1234", "email": "nope", "csrf_token": token}
    )
    assert response.status_code == 422
    assert re.search(r'id="kvk" name="kvk" value="1234" aria-invalid="true"', response.text)
    assert 'id="kvk-error">must be exactly 8 digits<' in response.text
    assert 'id="email-error">not a valid e-mail address<' in response.text
    assert not re.search(r'id="name" name="name" value="[^"]*" aria-invalid', response.text)


def test_api_issue_download_and_verify_is_the_cli_object(
    app_client: TestClient, runtime: WebRuntime, dev_pki: DevPki, tmp_path: Path
) -> None:
    client = client_for(app_client)
    headers = {"authorization": f"Bearer {runtime.accounts.issue_token('sales-user')}"}
    record = {**EXAMPLE_FIELDS, "id": "C-API-1", "name": "Zuivel & Zo <B.V.> \"Één\" 'x'"}
    created = client.post("/api/agreements", json=record, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "issued" and created.json()["name"] == record["name"]
    invalid = client.post("/api/agreements", json={**record, "id": "C-API-2", "kvk": "12"}, headers=headers)
    assert invalid.status_code == 422 and "kvk: must be exactly 8 digits" in invalid.json()["problems"]

    browser = logged_in(app_client, "sales")
    download = browser.get("/agreements/C-API-1/issued.pdf")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith('attachment; filename="C-API-1.pdf"')
    pdf = tmp_path / "C-API-1.pdf"
    pdf.write_bytes(download.content)

    via_api = client.post(
        "/api/verify", headers=headers, files={"file": ("C-API-1.pdf", pdf.read_bytes(), "application/pdf")}
    )
    assert via_api.status_code == 200
    cli = run_dpa("--config", str(dev_pki.config_path), "verify", "--json", "C-API-1.pdf", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert via_api.json() == json.loads(cli.stdout)
    assert via_api.json()["signatures"][0]["indication"] == "TOTAL_PASSED"

    page = browser.get("/agreements/C-API-1")
    assert page.status_code == 200 and "TOTAL_PASSED" in page.text
    assert "Zuivel &amp; Zo &lt;B.V.&gt; &#34;Één&#34; &#39;x&#39;" in page.text
    report = browser.get("/agreements/C-API-1/report.pdf")
    assert report.headers["content-disposition"].startswith("attachment;") and report.content.startswith(b"%PDF")


def test_every_action_is_recorded_with_the_user(app_client: TestClient, runtime: WebRuntime) -> None:
    client = logged_in(app_client, "legal")
    token = csrf_of(client.get("/verify").text)
    client.post("/verify", data={"csrf_token": token}, files={"files": ("junk.pdf", b"not a pdf", "application/pdf")})
    with Register(runtime.config.paths.register) as register:
        actions = Accounts(register).actions()
    assert any(a.actor == "legal-user" and a.action == "verified" and "junk.pdf" in (a.detail or "") for a in actions)
    assert any(a.actor == "legal-user" and a.action == "login" for a in actions)


def test_a_contract_that_is_not_a_pdf_is_refused_on_the_form(app_client: TestClient, runtime: WebRuntime) -> None:
    client = logged_in(app_client, "sales")
    token = csrf_of(client.get("/agreements/new").text)
    response = client.post(
        "/agreements/new",
        data={**EXAMPLE_FIELDS, "id": "C-CONTRACT", "csrf_token": token},
        files={"contract": ("contract.pdf", b"this is no PDF", "application/pdf")},
    )
    assert response.status_code == 400, response.text[:500]
    assert 'role="alert"' in response.text and 'value="C-CONTRACT"' in response.text
    assert not runtime.register.agreements(customer_id="C-CONTRACT")


def test_legal_ends_the_cooperation_and_a_purge_needs_two_legal_users(
    app_client: TestClient, runtime: WebRuntime, tmp_path: Path
) -> None:
    sales = client_for(app_client)
    headers = {"authorization": f"Bearer {runtime.accounts.issue_token('sales-user')}"}
    created = sales.post("/api/agreements", json={**EXAMPLE_FIELDS, "id": "C-END-1"}, headers=headers)
    assert created.status_code == 201, created.text
    issued_file = Path(created.json()["issued_file"])
    legal = logged_in(app_client, "legal")
    page = legal.get("/agreements/C-END-1")
    assert 'action="/agreements/C-END-1/end"' in page.text
    bad = legal.post("/agreements/C-END-1/end", data={"on": "31-12-2020", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 409 and "is not a date" in bad.text
    ended = legal.post("/agreements/C-END-1/end", data={"on": "2020-01-31", "csrf_token": csrf_of(page.text)})
    assert ended.status_code == 303
    page = legal.get("/agreements/C-END-1")
    assert "beëindigd" in page.text and "Verwijdering aanvragen" in page.text
    asked = legal.post(f"/agreements/C-END-1/purge?rid={created.json()['id']}", data={"csrf_token": csrf_of(page.text)})
    assert asked.status_code == 303 and issued_file.exists()
    page = legal.get("/agreements/C-END-1")
    assert "aangevraagd door legal-user" in page.text
    again = legal.post(f"/agreements/C-END-1/purge?rid={created.json()['id']}", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 400 and "second legal user" in again.text and issued_file.exists()
    runtime.accounts.add("legal-two", "legal", PASSWORD)
    second = client_for(app_client)
    assert login(second, "legal-two", PASSWORD).status_code == 303  # type: ignore[arg-type]
    page = second.get("/agreements/C-END-1")
    done = second.post(f"/agreements/C-END-1/purge?rid={created.json()['id']}", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 303 and not issued_file.exists()
    assert runtime.register.agreements(customer_id="C-END-1")[0].status == "purged"


def test_the_openapi_description_needs_a_token(app_client: TestClient, runtime: WebRuntime) -> None:
    client = client_for(app_client)
    assert client.get("/api/openapi.json").status_code == 401
    headers = {"authorization": f"Bearer {runtime.accounts.issue_token('admin-user')}"}
    schema = client.get("/api/openapi.json", headers=headers).json()
    assert {"/api/agreements", "/api/agreements/{customer_id}", "/api/verify", "/api/ingest"} <= set(schema["paths"])


def test_an_agreement_in_force_by_proof_of_existence_says_no_later_than(
    app_client: TestClient, runtime: WebRuntime, dev_pki: DevPki
) -> None:
    """A counter-signature without a timestamp, ingested through the API: the effective date rests on the archive
    timestamp, and the pages say so ("uiterlijk", "no later than"), as the register keeps the basis."""
    headers = {"authorization": f"Bearer {runtime.accounts.issue_token('sales-user')}"}
    client = client_for(app_client)
    created = client.post("/api/agreements", json={**EXAMPLE_FIELDS, "id": "C-POE-1"}, headers=headers)
    assert created.status_code == 201, created.text
    issued = Path(created.json()["issued_file"]).read_bytes()
    returned = tamper.pyhanko_sign(issued, "controller_signature", dev_pki.controller, None)  # Acrobat's default
    legal = {"authorization": f"Bearer {runtime.accounts.issue_token('legal-user')}"}
    ingested = client.post("/api/ingest", headers=legal, files={"file": ("C-POE-1.pdf", returned, "application/pdf")})
    body = ingested.json()
    assert body["accepted"] is True and "effective no later than" in body["reason"], body
    assert body["effective_date_basis"] == "proof_of_existence"
    day = body["effective_date"]
    browser = logged_in(app_client, "legal")
    page = browser.get("/agreements/C-POE-1")
    assert f'<dd id="effective-date">uiterlijk {day}</dd>' in page.text, page.text
    assert f"no later than {day}" in browser.get("/agreements/C-POE-1?lang=en").text
    listing = browser.get("/agreements?q=C-POE-1&lang=nl")
    assert f"uiterlijk {day}" in listing.text
