"""The register's files as evidence: what may be deleted, what an export may write onto, what is on file, when an
agreement may be issued again.

Kept apart from :mod:`dpa.register` (the database) so that the rules about files read on their own: a file is
deleted only while it still holds the bytes the register recorded for it; an export never lands on the register or
on a file the register keeps, and onto another existing file only when that is an export dpa wrote; an agreement
is issued again only when its issued file was lost.
"""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from dpa.errors import EvidenceError, RegisterError
from dpa.files import file_sha256, spreadsheet_safe, write_atomic

if TYPE_CHECKING:
    from dpa.register import Agreement, KnownFile

REGISTER_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def delete_if_holds(path: Path, sha256: str) -> bool:
    """Delete ``path`` if it is a regular file whose content has SHA-256 ``sha256``; True when deleted.

    A file that now holds other bytes is no longer this agreement's (another customer's, a copy put there by hand)
    and is left alone.
    """
    if file_sha256(path) != sha256:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise RegisterError(f"cannot delete {path}: {exc.strerror or exc}") from None
    return True


def export_header() -> str:
    """The first line of every CSV that :meth:`dpa.register.Register.export_csv` writes."""
    from dpa.register import Agreement

    out = io.StringIO()
    csv.writer(out).writerow([f.name for f in fields(Agreement)])
    return out.getvalue().rstrip("\r\n")


def check_export_target(target: Path, register_path: Path, known: KnownFile | None, *, force: bool) -> None:
    """Refuse an export target that would replace evidence, or (without ``force``) a file dpa did not export."""
    resolved = target.resolve()
    register_files = {Path(f"{register_path.resolve()}{suffix}") for suffix in REGISTER_SIDE_FILES}
    if resolved in register_files:
        raise EvidenceError(f"{target} is the register itself; write the export to another file")
    if known is not None:
        raise EvidenceError(
            f"{target} is the {known.kind} agreement of {known.agreement.customer_id} in the register; the export "
            "never replaces it"
        )
    if not (target.exists() or target.is_symlink()):
        return
    if not target.is_file():
        raise EvidenceError(f"{target} exists and is not a regular file; write the export to another file")
    if force:
        return
    try:
        with target.open("r", encoding="utf-8", newline="") as handle:
            first = handle.readline(4096).rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        first = None
    if first != export_header():
        raise EvidenceError(
            f"{target} exists and is not a register export written by dpa (its first line is not the export's "
            "header); choose another file, or pass --force to replace it"
        )


def already_effective(agreement: Agreement) -> str:
    """Why a second, different return of an effective agreement is refused: what is on file."""
    return (
        f"the agreement of {agreement.customer_id} is already effective from {agreement.effective_date}, with the "
        f"signed copy {agreement.signed_file} (SHA-256 {agreement.signed_sha256}) on file; that evidence is never "
        "replaced, so this different return is not recorded"
    )


def refuse_reissue(existing: Agreement) -> None:
    """An agreement for the same record and template exists: issuing it again would orphan the customer's copy.

    Allowed only when the issued file is gone (lost) and the agreement is still merely issued.
    """
    if existing.status != "issued":
        raise RegisterError(
            f"{existing.customer_id}: the agreement for this record and template is already {existing.status}; "
            "it is not issued again"
        )
    if existing.issued_file and file_sha256(Path(existing.issued_file)) == existing.issued_sha256:
        raise RegisterError(
            f"{existing.customer_id}: this agreement was already issued as {existing.issued_file}; send that file "
            "(issuing it again would leave the customer's copy without a match)"
        )


def write_export(target: Path, agreements: list[Agreement]) -> None:
    """Write ``agreements`` as CSV to ``target`` atomically, with formulas neutralised for spreadsheets."""
    from dpa.register import Agreement

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Agreement)])
    writer.writeheader()
    for agreement in agreements:
        writer.writerow({k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in agreement.as_dict().items()})
    write_atomic(target, out.getvalue().encode("utf-8"))
