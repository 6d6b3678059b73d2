"""Shared fixtures. Real components throughout: LibreOffice, a TSA over HTTP, SoftHSM2, poppler, qpdf."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document

from dpa.assembly.convert import Converter
from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.records import CustomerRecord, record_from_mapping
from tests.signing_support import TsaProcess

# The suite's own guards: signed output verified after each test, no process left behind after the session.
pytest_plugins = ["pytester", "tests.leftovers", "tests.signed_output"]

REPO = Path(__file__).resolve().parent.parent

# --- assembly -----------------------------------------------------------------------------------------------------

EXAMPLE_FIELDS = {
    "id": "C-1001",
    "name": "Voorbeeld Telecom B.V.",
    "kvk": "12345678",
    "street": "Oudegracht 12",
    "postcode": "3511 AB",
    "city": "Utrecht",
    "email": "info@voorbeeld.example",
    "signatory_name": "J. de Vries",
    "signatory_title": "Directeur",
    "contract_ref": "OVK-2026-0042",
}


EXAMPLE_SIGNER_EMAIL = "j.devries@voorbeeld.example"
"""The development controller certificate's e-mail address: the domain of EXAMPLE_FIELDS' e-mail."""


def docx_bytes(text: str) -> bytes:
    """A one-paragraph Word document."""
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_record(**changes: object) -> CustomerRecord:
    """A valid customer record with some fields changed."""
    return record_from_mapping({**EXAMPLE_FIELDS, **changes})


def local_paths(config: Config, folder: Path) -> Config:
    """``config`` with its output folder and register under ``folder``."""
    paths = dataclasses.replace(config.paths, output=folder, register=folder / "register.sqlite3")
    return dataclasses.replace(config, paths=paths)


def config_file_for(config: Config, folder: Path) -> Path:
    """A dpa.toml for a ``dpa`` subprocess: ``config``'s own file plus a register under ``folder``.

    It is written beside the original, so the relative key and certificate paths in it stay valid.
    """
    source = config.source
    assert source is not None, "a configuration loaded from a file"
    target = source.parent / f"dpa-{folder.name}.toml"
    text = source.read_text(encoding="utf-8") + f'\n[paths]\nregister = "{folder / "register.sqlite3"}"\n'
    target.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def converter() -> Iterator[Converter]:
    """One warm LibreOffice for the whole test session."""
    with Converter(1) as pool:
        yield pool


@pytest.fixture(scope="session")
def config() -> Config:
    """Built-in defaults (no dpa.toml)."""
    return Config()


# --- signing: the agreement to sign, a development PKI, a real `dpa tsa serve` ----------------------------------


@pytest.fixture(scope="session")
def assembled_agreement(converter: Converter, config: Config) -> bytes:
    """The real unsigned agreement (LibreOffice PDF/A-2b + pypdf merge), assembled once per session."""
    from dpa.workflows.issue import assemble

    return assemble(make_record(), config, converter)


@pytest.fixture
def unsigned_pdf(tmp_path: Path, assembled_agreement: bytes) -> Path:
    """A fresh copy (its own file per test) of the real unsigned agreement with both empty signature fields."""
    path = tmp_path / "agreement.pdf"
    path.write_bytes(assembled_agreement)
    return path


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevPki]:
    """``dpa pki init`` output for the whole session, with its passphrases in the environment; its certificates
    name CRL and OCSP addresses on a free loopback port, where :func:`tsa_server` answers them."""
    from dpa.devtools.devpki import init_dev_pki
    from tests.signing_support import free_port

    # The example controller signs with an address at the test customers' domain (EXAMPLE_FIELDS' e-mail), so
    # that ingest recognises it as the customer (DESIGN §6 "The signer is the customer").
    pki = init_dev_pki(
        tmp_path_factory.mktemp("dev-pki"),
        tsa_url=f"http://127.0.0.1:{free_port()}/",
        controller_email=EXAMPLE_SIGNER_EMAIL,
    )
    with pytest.MonkeyPatch.context() as mp:
        for name, value in pki.secrets.items():
            mp.setenv(name, value)
        yield pki


@pytest.fixture(scope="session")
def tsa_server(dev_pki: DevPki) -> Iterator[TsaProcess]:
    """A real ``dpa tsa serve`` subprocess on loopback for the session (basic auth on), on the port the development
    PKI's certificates name, so it also answers their CRLs and OCSP; stopped with SIGTERM at the end — which must
    exit 0."""
    from tests.signing_support import start_tsa

    port = int(dev_pki.revocation_url.rstrip("/").rsplit(":", 1)[1])
    tsa = start_tsa(dev_pki.config_path, dict(dev_pki.secrets), port=port)
    yield tsa
    assert tsa.stop() == 0, "dpa tsa serve did not exit cleanly on SIGTERM"


@pytest.fixture(scope="session")
def signing_config(dev_pki: DevPki, tsa_server: TsaProcess) -> Config:
    """The development PKI's dpa.toml, with ``[tsa] urls`` pointing at :func:`tsa_server`."""
    from dpa.config import load_config
    from tests.signing_support import with_tsa_urls

    return with_tsa_urls(load_config(dev_pki.config_path), tsa_server.url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first (their order within a file kept): `make test` hands whole files to its two
    workers, and starting the longest ones first keeps one worker from finishing long after the other."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (one per test module that asks for it)."""
    from playwright.sync_api import sync_playwright

    from tests.web_support import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()
