"""dpa: produce, sign and verify ipcall.me data processing agreements (verwerkersovereenkomsten).

The public API, for use without the command line (each name is imported on first use, so that ``import dpa``
stays cheap for the CLI and the verification worker)::

    from dpa import load_config, load_record, issue, Verifier

    config = load_config(Path("dpa.toml"))
    issued = issue(load_record(Path("customer.toml")), config, Path("C-10001.pdf"))
    with Verifier(config) as verifier:
        report = verifier.verify_file(issued.path)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "dpa.config",
    "load_config": "dpa.config",
    "DpaError": "dpa.errors",
    "CustomerRecord": "dpa.records",
    "load_record": "dpa.records",
    "record_from_mapping": "dpa.records",
    "Register": "dpa.register",
    "SigningSession": "dpa.signing.sign",
    "sign_pdf": "dpa.signing.sign",
    "Verifier": "dpa.verify.verifier",
    "DocumentReport": "dpa.verify.report",
    "SignatureReport": "dpa.verify.report",
    "assemble": "dpa.workflows.issue",
    "generate": "dpa.workflows.issue",
    "issue": "dpa.workflows.issue",
    "issue_one": "dpa.workflows.issue",
    "IssueRun": "dpa.workflows.issue",
    "Issued": "dpa.workflows.issue",
    "run_batch": "dpa.workflows.batch",
    "BatchOptions": "dpa.workflows.batch",
    "ingest_file": "dpa.workflows.ingest",
    "IngestResult": "dpa.workflows.ingest",
    "Archiver": "dpa.archive.seal",
    "ArchiveResult": "dpa.archive.seal",
    "seal": "dpa.archive.seal",
    "extend": "dpa.archive.seal",
}

__all__ = [
    "ArchiveResult",
    "Archiver",
    "BatchOptions",
    "Config",
    "CustomerRecord",
    "DocumentReport",
    "DpaError",
    "IngestResult",
    "IssueRun",
    "Issued",
    "Register",
    "SignatureReport",
    "SigningSession",
    "Verifier",
    "__version__",
    "assemble",
    "extend",
    "generate",
    "ingest_file",
    "issue",
    "issue_one",
    "load_config",
    "load_record",
    "record_from_mapping",
    "run_batch",
    "seal",
    "sign_pdf",
]

if TYPE_CHECKING:
    from dpa.archive.seal import Archiver, ArchiveResult, extend, seal
    from dpa.config import Config, load_config
    from dpa.errors import DpaError
    from dpa.records import CustomerRecord, load_record, record_from_mapping
    from dpa.register import Register
    from dpa.signing.sign import SigningSession, sign_pdf
    from dpa.verify.report import DocumentReport, SignatureReport
    from dpa.verify.verifier import Verifier
    from dpa.workflows.batch import BatchOptions, run_batch
    from dpa.workflows.ingest import IngestResult, ingest_file
    from dpa.workflows.issue import Issued, IssueRun, assemble, generate, issue, issue_one


def __getattr__(name: str) -> Any:
    """Import a public name from the module that defines it, on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dpa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
