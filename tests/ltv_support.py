"""Helpers for the long-term validation tests: a development PKI of a test's own, served in-process (TSA, CRL and
OCSP over real HTTP on loopback), and what a test reads back from a signed file (DSS, document timestamps).

Nothing is mocked: the servers are dpa's own, the requests real HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from dpa.config import Config, load_config
from dpa.devtools.certs import CertKey, make_ca, revocation_urls
from dpa.devtools.devpki import REVOCATIONS_FILE, DevPki, init_dev_pki
from dpa.devtools.revocation import RevocationResponder
from dpa.devtools.tsa_server import TimestampAuthority, TsaServer, tsa_server_from_config
from tests.conftest import EXAMPLE_SIGNER_EMAIL
from tests.signing_support import free_port, with_tsa_urls


class _Responding:
    """For a holder of a TSA server that also answers CRL and OCSP requests."""

    server: TsaServer

    @property
    def responder(self) -> RevocationResponder:
        """The revocation responder (its ``requests`` count what was asked)."""
        revocation = self.server.revocation
        assert revocation is not None
        return revocation


@dataclass
class ServedPki(_Responding):
    """A test's own development PKI with its TSA (and, unless down, its CRL/OCSP services) served in-process."""

    pki: DevPki
    config: Config
    """The PKI's dpa.toml with ``[tsa] urls`` at the running TSA (and the verifier bridge)."""
    server: TsaServer

    def with_changes(self, **signing: Any) -> Config:
        """``config`` with ``[signing]`` keys changed."""
        return dataclasses.replace(self.config, signing=dataclasses.replace(self.config.signing, **signing))


@contextlib.contextmanager
def served_pki(
    folder: Path, monkeypatch: pytest.MonkeyPatch, *, revocation_up: bool = True, **init: Any
) -> Iterator[ServedPki]:
    """``dpa pki init`` in ``folder`` (passphrases in the environment for the test) and its server on loopback.

    With ``revocation_up=False`` the certificates name a port nobody listens on, while the TSA runs elsewhere:
    the revocation services are down, the TSA is not.
    """
    port = free_port()
    init.setdefault("controller_email", EXAMPLE_SIGNER_EMAIL)  # the example controller signs for the test customer
    pki = init_dev_pki(folder, tsa_url=f"http://127.0.0.1:{port}/", **init)
    for name, value in pki.secrets.items():
        monkeypatch.setenv(name, value)
    base = load_config(pki.config_path)
    server = tsa_server_from_config(base, port=port if revocation_up else 0)
    try:
        url = server.start_in_thread()
        yield ServedPki(pki, with_tsa_urls(base, url), server)
    finally:
        server.shutdown()


@contextlib.contextmanager
def plain_tsa(tsa: CertKey) -> Iterator[str]:
    """A second TSA (only timestamps) on a free loopback port, signing with ``tsa``; yields its URL."""
    with TsaServer(TimestampAuthority(tsa.cert, tsa.key), port=0) as server:
        yield server.start_in_thread()


@dataclass
class PublishingCa(_Responding):
    """A customer's own CA whose certificates name a CRL and OCSP address on loopback, where it answers."""

    ca: CertKey
    server: TsaServer


@contextlib.contextmanager
def publishing_ca(folder: Path, name: str, tsa: CertKey, **make: Any) -> Iterator[PublishingCa]:
    """A CA of a customer (``make_ca(name, **make)``) that publishes its CRL and OCSP responses over real HTTP on
    loopback, with dpa's own responder (a TSA server signing with ``tsa`` carries it); stopped on exit."""
    port = free_port()
    ca = make_ca(name, revocation=revocation_urls(f"http://127.0.0.1:{port}/", "klant-ca"), **make)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REVOCATIONS_FILE).write_text('{"revoked": []}', encoding="utf-8")
    responder = RevocationResponder({"klant-ca": (ca.cert, ca.key)}, folder)  # type: ignore[dict-item]
    with TsaServer(TimestampAuthority(tsa.cert, tsa.key), port=port, revocation=responder) as server:
        server.start_in_thread()
        yield PublishingCa(ca, server)


def dss_of(data: bytes) -> DocumentSecurityStore:
    """The document security store of a PDF, read back with pyHanko."""
    return DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data)))


def dss_crl_issuers(data: bytes) -> set[str]:
    """The issuers (human-readable) of the CRLs in the DSS."""
    crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss_of(data).crls]
    return {c.issuer.human_friendly for c in crls}


def document_timestamp_fields(data: bytes) -> list[str]:
    """The fields of the document timestamps in a PDF, in file order."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    return [str(s.field_name) for s in reader.embedded_signatures if s.sig_object_type == "/DocTimeStamp"]
