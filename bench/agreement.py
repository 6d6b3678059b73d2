"""The input the signing and verification benchmarks share: the example customer's real unsigned agreement."""

from __future__ import annotations

from pathlib import Path

from dpa.assembly.convert import Converter
from dpa.config import Config
from dpa.records import load_record
from dpa.workflows.issue import assemble

REPO = Path(__file__).resolve().parent.parent


def unsigned_agreement() -> tuple[bytes, str]:
    """The example customer's agreement as `dpa generate` makes it, with a description for the report."""
    record = load_record(REPO / "templates" / "examples" / "customer.toml")
    with Converter(1) as converter:
        data = assemble(record, Config(), converter)
    return data, "the example customer's agreement from dpa generate"
