"""The embedded TSA (`dpa tsa serve`): tokens that openssl accepts, rejections, HTTP rules, auth, SIGTERM."""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

import pytest
import requests
from asn1crypto import tsp

from dpa.config import TsaServerConfig
from dpa.devtools import devpki
from dpa.devtools.devpki import DevPki
from dpa.devtools.tsa_server import TimestampAuthority, authority_from_config
from dpa.errors import ConfigError
from dpa.signing.rfc3161 import TimeStampResponse
from tests.cli_support import invoke
from tests.signing_support import TsaProcess, openssl_ts_verify, running_tsa

QUERY = {"Content-Type": "application/timestamp-query"}


def _request(digest: bytes, algorithm: str = "sha256", **extra: object) -> bytes:
    fields: dict[str, object] = {
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "cert_req": True,
        **extra,
    }
    return tsp.TimeStampReq(fields).dump()


def _auth(pki: DevPki) -> tuple[str, str]:
    return (devpki.TSA_USERNAME, pki.secrets[devpki.TSA_PASSWORD_ENV])


def test_served_token_verifies_with_openssl(dev_pki: DevPki, tsa_server: TsaProcess, tmp_path: Path) -> None:
    data = b"the signature value a TSA would stamp"
    digest = hashlib.sha256(data).digest()
    reply = requests.post(
        tsa_server.url, data=_request(digest, nonce=424242), headers=QUERY, auth=_auth(dev_pki), timeout=10
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/timestamp-reply"
    response = TimeStampResponse.load(reply.content)
    assert response["status"]["status"].native == "granted"
    token = response["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 424242
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["policy"].dotted == "1.3.6.1.4.1.57264.1.1"

    verified = openssl_ts_verify(token, data, dev_pki.tsa_ca_path, dev_pki.tsa_cert_path, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification: OK" in verified.stdout


def test_rejections_are_rfc3161_replies() -> None:
    ca = devpki.make_ca(key_type="ec")
    tsa = devpki.issue_cert(ca, "TSA", profile="tsa", key_type="ec")
    authority = TimestampAuthority(tsa.cert, tsa.key, [ca.cert], policy_oid="1.2.3.4")

    def status(request: bytes) -> tuple[str, set[str]]:
        response = TimeStampResponse.load(authority.respond(request))
        return response["status"]["status"].native, set(response["status"]["fail_info"].native or ())

    assert status(_request(hashlib.sha256(b"x").digest()))[0] == "granted"  # ECDSA TSA key works too
    assert status(_request(hashlib.sha1(b"x").digest(), "sha1")) == ("rejection", {"bad_alg"})
    assert status(_request(b"short")) == ("rejection", {"bad_data_format"})
    assert status(_request(hashlib.sha256(b"x").digest(), req_policy="1.2.3.5")) == (
        "rejection",
        {"unaccepted_policy"},
    )
    assert status(b"\x30\x03\x02\x01\x01") == ("rejection", {"bad_data_format"})
    assert status(b"not DER at all") == ("rejection", {"bad_data_format"})


def test_http_rules(dev_pki: DevPki, tsa_server: TsaProcess) -> None:
    url, auth = tsa_server.url, _auth(dev_pki)
    body = _request(hashlib.sha256(b"x").digest())
    assert requests.get(url, auth=auth, timeout=10).status_code == 405
    assert requests.post(url, data=body, auth=auth, timeout=10).status_code == 415
    assert requests.post(url, data=b"\x00" * 20000, headers=QUERY, auth=auth, timeout=10).status_code == 413
    unauthenticated = requests.post(url, data=body, headers=QUERY, timeout=10)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Basic")
    wrong = requests.post(url, data=body, headers=QUERY, auth=(auth[0], "wrong"), timeout=10)
    assert wrong.status_code == 401
    # the server still works after all of that
    assert requests.post(url, data=body, headers=QUERY, auth=auth, timeout=10).status_code == 200


def test_keep_alive_without_delayed_ack_stalls(dev_pki: DevPki, tsa_server: TsaProcess) -> None:
    """With TCP_NODELAY, a request on a kept-alive connection is no slower than one on a new connection.

    Nagle's algorithm with delayed ACKs holds back the second segment of a request on a connection that already
    carried one, for 40 ms; a new connection has nothing unacknowledged and is not delayed. The two kinds of request
    are interleaved, so a loaded machine slows both alike; the stall would put the kept-alive median 40 ms above.
    """
    body = _request(hashlib.sha256(b"x").digest())
    auth = _auth(dev_pki)
    kept: list[float] = []
    fresh: list[float] = []
    with requests.Session() as session:
        session.auth = auth
        session.post(tsa_server.url, data=body, headers=QUERY, timeout=10)
        for _ in range(20):
            start = time.perf_counter()
            assert session.post(tsa_server.url, data=body, headers=QUERY, timeout=10).status_code == 200
            kept.append(time.perf_counter() - start)
            start = time.perf_counter()
            with requests.Session() as once:
                assert once.post(tsa_server.url, data=body, headers=QUERY, auth=auth, timeout=10).status_code == 200
            fresh.append(time.perf_counter() - start)
    kept_ms, fresh_ms = statistics.median(kept) * 1000, statistics.median(fresh) * 1000
    assert kept_ms < fresh_ms + 20, f"kept-alive {kept_ms:.1f} ms, new connection {fresh_ms:.1f} ms (medians)"


def test_sigterm_stops_cleanly(dev_pki: DevPki) -> None:
    with running_tsa(dev_pki.config_path, dict(dev_pki.secrets)) as tsa:
        assert tsa.url.startswith("http://127.0.0.1:")
        code = tsa.stop()
        assert tsa.process.stderr is None or tsa.process.stderr.closed
    assert code == 0


def test_serve_refuses_bad_configuration(dev_pki: DevPki, tmp_path: Path) -> None:
    # a certificate without critical EKU timeStamping cannot run a TSA
    signer = dev_pki.processor
    signer.write_pem(tmp_path / "signer.pem", tmp_path / "signer-key.pem")
    bad = TsaServerConfig(cert=tmp_path / "signer.pem", key=tmp_path / "signer-key.pem")
    with pytest.raises(ConfigError, match="timeStamping marked critical"):
        authority_from_config(bad)
    non_critical = devpki.issue_cert(dev_pki.ca, "TSA", profile="tsa", eku_critical=False)
    non_critical.write_pem(tmp_path / "tsa2.pem", tmp_path / "tsa2-key.pem")
    with pytest.raises(ConfigError, match="critical"):
        authority_from_config(TsaServerConfig(cert=tmp_path / "tsa2.pem", key=tmp_path / "tsa2-key.pem"))

    # wrong key passphrase: a ConfigError that does not contain the passphrase
    wrong = TsaServerConfig(cert=dev_pki.tsa_cert_path, key=dev_pki.directory / "tsa-key.pem", key_passphrase_env="X")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("X", "not-the-passphrase")
        with pytest.raises(ConfigError, match="wrong passphrase") as excinfo:
            authority_from_config(wrong)
    assert "not-the-passphrase" not in str(excinfo.value)

    # the CLI: no [tsa.server] section → one line, exit 1
    (tmp_path / "empty.toml").write_text("")
    result = invoke("--config", str(tmp_path / "empty.toml"), "tsa", "serve", "--port", "0")
    assert result.returncode == 1
    assert "no [tsa.server] section" in result.stderr
