"""Load on a real ``dpa serve --dev`` over loopback: 50 concurrent verify requests all answered (p95 printed), a
batch running while agreements are issued one by one with no register lock errors, and a client that
disconnects mid-upload leaving nothing behind. Every loop is bounded in count and time."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.customers import customer_row, write_customers
from tests.signing_support import run_dpa
from tests.web_support import ServerProcess, csrf_of, login, running_server

pytestmark = pytest.mark.slow
PASSWORD = "load test password"
CONCURRENT = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("serve-load")
    for name, role in (("sales", "sales"), ("ops", "ops")):
        added = run_dpa("users", "add", name, "--role", role, "--password-env", "PW", env={"PW": PASSWORD}, cwd=cwd)
        assert added.returncode == 0, added.stderr
    with running_server(cwd, []) as process:
        yield process


def token(server: ServerProcess, name: str) -> dict[str, str]:
    made = run_dpa("users", "token", name, cwd=server.cwd)
    assert made.returncode == 0, made.stderr
    return {"authorization": f"Bearer {made.stdout.strip()}"}


def issue(client: httpx.Client, headers: dict[str, str], i: int) -> httpx.Response:
    row = {k: v for k, v in customer_row(i).items() if v}
    return client.post("/api/agreements", json=row, headers=headers, timeout=300)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def test_50_concurrent_verify_requests_are_all_answered(server: ServerProcess) -> None:
    headers = token(server, "sales")
    with httpx.Client(base_url=server.url) as client:
        created = issue(client, headers, 500)
        assert created.status_code == 201, created.text
    pdf = Path(created.json()["issued_file"]).read_bytes()

    def one(_: int) -> tuple[float, int, str]:
        started = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=300) as own:
            answer = own.post("/api/verify", headers=headers, files={"file": ("T-00500.pdf", pdf, "application/pdf")})
        indication = answer.json().get("indication", "") if answer.status_code == 200 else answer.text
        return time.monotonic() - started, answer.status_code, indication

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        results = list(pool.map(one, range(CONCURRENT)))
    wall = time.monotonic() - started
    assert [(code, indication) for _s, code, indication in results] == [(200, "TOTAL_PASSED")] * CONCURRENT
    latencies = [seconds for seconds, _c, _i in results]
    print(
        f"\n{CONCURRENT} concurrent POST /api/verify: p50 {statistics.median(latencies):.2f} s, "
        f"p95 {p95(latencies):.2f} s, max {max(latencies):.2f} s, wall {wall:.1f} s"
    )


def test_a_batch_runs_while_agreements_are_issued_one_by_one(server: ServerProcess, tmp_path: Path) -> None:
    csv_path = write_customers(tmp_path / "crm.csv", [customer_row(i) for i in range(600, 615)])
    headers = token(server, "sales")
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=300) as ops:
        assert login(ops, "ops", PASSWORD).status_code == 303
        form = csrf_of(ops.get("/batch").text)
        uploaded = ops.post(
            "/batch", data={"csrf_token": form}, files={"csv": ("crm.csv", csv_path.read_bytes(), "text/csv")}
        )
        assert uploaded.status_code == 303
        job = uploaded.headers["location"]
        started = ops.post(f"{job}/start", data={"csrf_token": csrf_of(ops.get(job).text)})
        assert started.status_code == 303
        one_by_one = []
        with httpx.Client(base_url=server.url) as sales:
            for i in range(700, 705):
                began = time.monotonic()
                response = issue(sales, headers, i)
                assert response.status_code == 201, response.text
                one_by_one.append(time.monotonic() - began)
        during = ops.get(f"{job}/progress").json()
        deadline = time.monotonic() + 600
        snap = during
        while snap["state"] == "running" and time.monotonic() < deadline:
            time.sleep(1)
            snap = ops.get(f"{job}/progress").json()
    assert during["state"] in ("running", "finished")
    assert snap["state"] == "finished" and snap["issued"] == 15 and snap["failed"] == 0, snap
    log = server.log_text()
    assert "locked" not in log and "busy" not in log
    print(f"\nissued one by one during the batch: {', '.join(f'{s:.1f}' for s in one_by_one)} s each")


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        login(client, "sales", PASSWORD)
        token_value = csrf_of(client.get("/verify").text)
        cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    host, port = server.url.removeprefix("http://").rstrip("/").split(":")
    boundary = "dpa-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token_value}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="half.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /verify HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookies}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n"
            ).encode()
            + head
            + b"0" * (256 * 1024)
        )
    time.sleep(2)
    uploads = server.cwd / "output" / "web" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    assert httpx.get(server.url + "healthz").text == "ok\n"
    assert "half.pdf" not in server.log_text()
