"""The RFC 3161 client against real `dpa tsa serve` processes (and a deliberately broken TSA) on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp

from dpa.config import Config
from dpa.devtools import devpki
from dpa.devtools.devpki import DevPki
from dpa.devtools.tsa_server import TimestampAuthority
from dpa.errors import ConfigError, TimestampError
from dpa.signing.rfc3161 import TimeStampResponse
from dpa.signing.sign import SigningSession
from dpa.signing.timestamps import DpaTimeStamper, timestamper_from_config
from dpa.signing.trust import load_trust_roots
from tests.signing_support import TsaProcess, assert_signed_ok, free_port, running_tsa, with_tsa_urls

DIGEST = hashlib.sha256(b"signature value").digest()


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


def test_first_url_down_second_used(signing_config: Config, tsa_server: TsaProcess, dev_pki: DevPki) -> None:
    config = with_tsa_urls(signing_config, _dead_url(), tsa_server.url)
    stamper = timestamper_from_config(config)
    try:
        info = stamper.timestamp(DIGEST)
    finally:
        stamper.close()
    assert info.url == tsa_server.url
    assert "NIET VOOR PRODUCTIE" in info.tsa_subject


def test_failover_while_signing(
    signing_config: Config, tsa_server: TsaProcess, dev_pki: DevPki, unsigned_pdf: Path
) -> None:
    config = with_tsa_urls(signing_config, _dead_url(), tsa_server.url)
    with SigningSession(config) as session:
        result = session.sign(unsigned_pdf, "processor")
    assert result.tsa_url == tsa_server.url and result.timestamp is not None
    assert result.output is not None
    assert_signed_ok(result.output, [dev_pki.ca_path], ["processor_signature"])


def test_second_real_tsa_takes_over(dev_pki: DevPki, signing_config: Config) -> None:
    """Two real `dpa tsa serve` processes; the first is stopped, the second answers."""
    with (
        running_tsa(dev_pki.config_path, dict(dev_pki.secrets)) as first,
        running_tsa(dev_pki.config_path, dict(dev_pki.secrets)) as second,
    ):
        stamper = timestamper_from_config(with_tsa_urls(signing_config, first.url, second.url))
        try:
            assert stamper.timestamp(DIGEST).url == first.url
            assert first.stop() == 0
            assert stamper.timestamp(DIGEST).url == second.url
        finally:
            stamper.close()


def test_wrong_credentials_clear_error(signing_config: Config, tsa_server: TsaProcess) -> None:
    config = dataclasses.replace(signing_config, tsa=dataclasses.replace(signing_config.tsa, password_env="WRONG_PW"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WRONG_PW", "definitely-not-it")
        stamper = timestamper_from_config(config)
        with pytest.raises(TimestampError) as excinfo:
            stamper.timestamp(DIGEST)
        stamper.close()
    message = str(excinfo.value)
    assert "HTTP 401" in message and "username" in message and tsa_server.url in message
    assert "definitely-not-it" not in message


def test_all_down_no_output(signing_config: Config, unsigned_pdf: Path, tmp_path: Path) -> None:
    config = with_tsa_urls(signing_config, _dead_url(), _dead_url())
    output = tmp_path / "out.pdf"
    before = unsigned_pdf.read_bytes()
    with SigningSession(config) as session, pytest.raises(TimestampError) as excinfo:
        session.sign(unsigned_pdf, "processor", output)
    assert "no time-stamping authority returned a valid timestamp" in str(excinfo.value)
    assert "connection refused" in str(excinfo.value)
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agreement.pdf"]  # no temp file left either
    assert unsigned_pdf.read_bytes() == before


def test_retries_are_bounded(signing_config: Config) -> None:
    roots = load_trust_roots(signing_config.trust.roots)
    dead = _dead_url()
    stamper = DpaTimeStamper([dead], trust_roots=roots, retries=2, retry_delay_s=0.05)
    start = time.monotonic()
    with pytest.raises(TimestampError, match=r"after 3 attempts"):
        stamper.timestamp(DIGEST)
    assert time.monotonic() - start < 2
    stamper.close()


def test_one_http_connection_for_a_whole_run(signing_config: Config, tsa_server: TsaProcess) -> None:
    """One session and one kept-alive connection serve every request (basic auth on)."""
    stamper = timestamper_from_config(signing_config)
    try:
        for _ in range(5):
            assert stamper.timestamp(DIGEST).url == tsa_server.url
        pools = stamper.session.get_adapter(tsa_server.url).poolmanager.pools
        assert [pools[key].num_connections for key in pools.keys()] == [1]  # noqa: SIM118 - it has no __iter__
    finally:
        stamper.close()


def test_retries_do_not_block_the_event_loop(signing_config: Config) -> None:
    """urllib3 backs off in the HTTP thread: other coroutines keep running while a dead TSA is retried."""
    roots = load_trust_roots(signing_config.trust.roots)
    stamper = DpaTimeStamper([_dead_url()], trust_roots=roots, retries=3, retry_delay_s=0.1)
    ticks = 0

    async def ticker(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def both() -> float:
        done = asyncio.Event()
        task = asyncio.create_task(ticker(done))
        start = time.monotonic()
        with pytest.raises(TimestampError, match=r"connection refused\) \(after 4 attempts\)"):
            await stamper.async_timestamp_info(DIGEST, "sha256")
        elapsed = time.monotonic() - start
        done.set()
        await task
        return elapsed

    try:
        elapsed = asyncio.run(both())
    finally:
        stamper.close()
    assert elapsed >= 0.5, "urllib3 backed off (0 + 0.2 + 0.4 s)"
    assert ticks >= elapsed / 0.01 / 4, f"the event loop stalled: {ticks} ticks in {elapsed:.2f} s"


def test_server_errors_are_retried(dev_authority: TimestampAuthority, signing_config: Config) -> None:
    """A 503 is retried (urllib3's Retry on the session), the second answer is used."""
    answers: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            req = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            if not answers:
                answers.append(503)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answers.append(200)
            reply = _granted(dev_authority, req["message_imprint"], nonce=req["nonce"].native)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        _stamp(url, signing_config)
    assert answers == [503, 200]

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Busy) as url, pytest.raises(TimestampError, match=r"HTTP 503 .*\(after 2 attempts\)"):
        _stamp(url, signing_config)


def test_timeout_on_a_silent_tsa(signing_config: Config) -> None:
    roots = load_trust_roots(signing_config.trust.roots)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        stamper = DpaTimeStamper([url], trust_roots=roots, timeout_s=0.3, retries=1, retry_delay_s=0.01)
        start = time.monotonic()
        with pytest.raises(TimestampError, match=r"no answer within 0\.3 s"):
            stamper.timestamp(DIGEST)
        assert time.monotonic() - start < 3
        stamper.close()


# --- a TSA that answers, but wrongly ----------------------------------------------------------------------------


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on loopback in a thread; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def rogue_tsa(respond: Callable[[tsp.TimeStampReq], bytes]) -> Iterator[str]:
    """An HTTP server on loopback whose replies ``respond`` makes from each parsed request."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = respond(tsp.TimeStampReq.load(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


def _granted(authority: TimestampAuthority, imprint: tsp.MessageImprint, nonce: int | None) -> bytes:
    token = authority.issue(imprint, nonce=nonce)
    return TimeStampResponse({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


@pytest.fixture(scope="module")
def dev_authority(dev_pki: DevPki) -> TimestampAuthority:
    return TimestampAuthority(dev_pki.tsa.cert, dev_pki.tsa.key, [dev_pki.tsa_ca.cert])


def _stamp(url: str, config: Config) -> None:
    stamper = DpaTimeStamper([url], trust_roots=load_trust_roots(config.trust.tsa_roots))
    try:
        stamper.timestamp(DIGEST)
    finally:
        stamper.close()


def test_nonce_is_checked(dev_authority: TimestampAuthority, signing_config: Config) -> None:
    def replay(req: tsp.TimeStampReq) -> bytes:
        return _granted(dev_authority, req["message_imprint"], nonce=req["nonce"].native + 1)

    with rogue_tsa(replay) as url, pytest.raises(TimestampError, match="different nonce"):
        _stamp(url, signing_config)


def test_imprint_is_checked(dev_authority: TimestampAuthority, signing_config: Config) -> None:
    other = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32})

    def wrong_imprint(req: tsp.TimeStampReq) -> bytes:
        return _granted(dev_authority, other, nonce=req["nonce"].native)

    with rogue_tsa(wrong_imprint) as url, pytest.raises(TimestampError, match="different message imprint"):
        _stamp(url, signing_config)


def test_untrusted_tsa_certificate(signing_config: Config) -> None:
    stranger_ca = devpki.make_ca("Stranger CA")
    stranger = devpki.issue_cert(stranger_ca, "Stranger TSA", profile="tsa")
    authority = TimestampAuthority(stranger.cert, stranger.key, [stranger_ca.cert])

    def honest(req: tsp.TimeStampReq) -> bytes:
        return _granted(authority, req["message_imprint"], nonce=req["nonce"].native)

    with rogue_tsa(honest) as url, pytest.raises(TimestampError, match="not trusted"):
        _stamp(url, signing_config)


@pytest.mark.parametrize("kind", ["signer certificate", "non-critical EKU"])
def test_tsa_certificate_must_be_made_for_timestamping(
    kind: str, dev_pki: DevPki, signing_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token signed with a trusted certificate that is not a TSA certificate is refused."""
    if kind == "signer certificate":
        impostor = dev_pki.processor
    else:
        impostor = devpki.issue_cert(dev_pki.ca, "Half a TSA", profile="tsa", eku_critical=False)
    # our own server would refuse such a certificate, so switch its check off to play the rogue TSA
    monkeypatch.setattr("dpa.devtools.tsa_server.check_tsa_certificate", lambda cert, key=None: None)
    authority = TimestampAuthority(impostor.cert, impostor.key, [dev_pki.ca.cert])

    def respond(req: tsp.TimeStampReq) -> bytes:
        return _granted(authority, req["message_imprint"], nonce=req["nonce"].native)

    with rogue_tsa(respond) as url, pytest.raises(TimestampError, match="timeStamping"):
        _stamp(url, signing_config)


def test_rejection_is_reported(signing_config: Config) -> None:
    def refuse(req: tsp.TimeStampReq) -> bytes:
        status = {"status": "rejection", "status_string": ["quota exceeded"], "fail_info": {"system_failure"}}
        return TimeStampResponse({"status": status}).dump()

    with rogue_tsa(refuse) as url, pytest.raises(TimestampError, match="quota exceeded"):
        _stamp(url, signing_config)


# --- configuration ----------------------------------------------------------------------------------------------


def test_configuration_errors(signing_config: Config) -> None:
    with pytest.raises(ConfigError, match="no time-stamping authority is configured"):
        timestamper_from_config(with_tsa_urls(signing_config))
    no_roots = dataclasses.replace(signing_config, trust=dataclasses.replace(signing_config.trust, tsa_roots=()))
    with pytest.raises(ConfigError, match=r"\[trust\] tsa_roots"):
        timestamper_from_config(no_roots)
    with pytest.raises(ConfigError, match="must start with http"):
        timestamper_from_config(signing_config, ["ftp://example.org/"])
    unset = dataclasses.replace(signing_config, tsa=dataclasses.replace(signing_config.tsa, password_env="UNSET_X"))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("UNSET_X", raising=False)
        with pytest.raises(ConfigError, match="UNSET_X"):
            timestamper_from_config(unset)
