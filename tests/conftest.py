"""Shared fixtures. Real components throughout: LibreOffice, a TSA over HTTP, SoftHSM2, poppler, qpdf."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dpa.assembly.convert import Converter
from dpa.assembly.records import CustomerRecord, record_from_mapping
from dpa.config import Config

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


def make_record(**changes: object) -> CustomerRecord:
    """A valid customer record with some fields changed."""
    return record_from_mapping({**EXAMPLE_FIELDS, **changes})


@pytest.fixture(scope="session")
def converter() -> Iterator[Converter]:
    """One warm LibreOffice for the whole test session."""
    with Converter(1) as pool:
        yield pool


@pytest.fixture(scope="session")
def config() -> Config:
    """Built-in defaults (no dpa.toml)."""
    return Config()
