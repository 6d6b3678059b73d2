"""The agreement register: which customer has which agreement, in force since when, and its history.

A SQLite database (WAL, foreign keys, a schema version with migrations). ``agreements`` holds one row per issued
agreement (idempotency key: customer id + template version + record hash); ``events`` is append-only: what
happened, when, with which file hash and verdict. Retention (art. 10.2): two years after the cooperation ends
the files and the personal data go; a tombstone with hashes and dates stays.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dpa.errors import EvidenceError, RegisterError
from dpa.files import file_sha256
from dpa.records import CustomerRecord
from dpa.register_files import already_effective, check_export_target, delete_if_holds, refuse_reissue, write_export
from dpa.register_schema import MIGRATIONS

STATUSES = ("issued", "effective", "rejected", "ended", "purged")
RETENTION_YEARS = 2
PERSONAL_COLUMNS = ("name", "street", "postcode", "city", "email", "signatory_name", "signatory_title")


@dataclass(frozen=True)
class Agreement:
    """One row of the register."""

    id: int
    customer_id: str
    template_version: str
    record_sha256: str
    name: str | None
    street: str | None
    postcode: str | None
    city: str | None
    country: str | None
    email: str | None
    signatory_name: str | None
    signatory_title: str | None
    issued_file: str | None
    issued_sha256: str
    issued_at: str
    signed_file: str | None
    signed_sha256: str | None
    status: str
    effective_date: str | None
    cooperation_end: str | None
    effective_date_basis: str | None = None
    """``timestamp`` or ``proof_of_existence`` ("no later than"); ``None`` before it was kept (schema 6)."""

    def files(self) -> list[tuple[str, str]]:
        """(path, SHA-256) of every file the register keeps for this agreement: the issued file (wherever it was
        moved aside to) and the stored signed copy."""
        found = [(self.issued_file, self.issued_sha256), (self.signed_file, self.signed_sha256)]
        return [(name, sha256) for name, sha256 in found if name and sha256]

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (for JSON and CSV)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Event:
    """One entry of an agreement's history."""

    at: str
    kind: str
    file_sha256: str | None
    verdict: str | None
    detail: str | None


AGREEMENT_COLUMNS = ", ".join(f.name for f in fields(Agreement))


@dataclass(frozen=True)
class KnownFile:
    """A file the register keeps: whose agreement, and whether it is the ``issued`` file or the ``signed`` copy."""

    agreement: Agreement
    kind: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Register:
    """The register database; safe to use from several processes (WAL, IMMEDIATE transactions) and, within one
    process, from several threads (one connection, used under a lock)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._lock = threading.RLock()
        if not create and not path.exists():
            raise RegisterError(f"there is no register at {path} yet: dpa issue and dpa batch create it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise RegisterError(f"cannot open the register {path}: {exc}") from None
        except OSError as exc:
            raise RegisterError(f"cannot open the register {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise RegisterError(f"the register {self.path} is busy or locked: {exc}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """An IMMEDIATE transaction on the register's connection, for the modules that keep their own tables in
        the register (:mod:`dpa.accounts`, :mod:`dpa.portal`); everything in it commits together or not at all."""
        return self._transaction()

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query (for the modules that keep their own tables in the register)."""
        return self._read(query, params)

    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query, under the connection's lock."""
        with self._lock:
            return self._db.execute(query, params).fetchall()

    def _migrate(self) -> None:
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            if current > len(MIGRATIONS):
                raise RegisterError(
                    f"the register {self.path} has schema version {current}, newer than this dpa knows "
                    f"({len(MIGRATIONS)}): upgrade dpa"
                )
            for statements in MIGRATIONS[current:]:
                for statement in statements:
                    db.execute(statement)
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
            else:
                db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._read("SELECT version FROM schema_version")[0][0])

    # --- writing ---------------------------------------------------------------------------------------------

    def check_can_issue(self, record: CustomerRecord, template_version: str) -> None:
        """Refuse to issue again an agreement (same record and template) that exists: the one issued stands."""
        rows = self._read(
            f"SELECT {AGREEMENT_COLUMNS} FROM agreements "
            "WHERE customer_id = ? AND template_version = ? AND record_sha256 = ?",
            (record.id, template_version, record.sha256()),
        )
        if rows:
            refuse_reissue(Agreement(**dict(rows[0])))

    def record_issued(
        self, record: CustomerRecord, template_version: str, issued_file: Path, issued_sha256: str
    ) -> Agreement:
        """Enter an issued agreement (idempotent: the same key and file hash again changes nothing)."""
        with self._transaction() as db:
            existing = db.execute(
                f"SELECT {AGREEMENT_COLUMNS} FROM agreements "
                "WHERE customer_id = ? AND template_version = ? AND record_sha256 = ?",
                (record.id, template_version, record.sha256()),
            ).fetchone()
            if existing is not None and existing["issued_sha256"] == issued_sha256:
                return Agreement(**dict(existing))
            if existing is not None:
                refuse_reissue(Agreement(**dict(existing)))
                db.execute(
                    "UPDATE agreements SET issued_file = ?, issued_sha256 = ?, issued_at = ? WHERE id = ?",
                    (str(issued_file), issued_sha256, _now(), existing["id"]),
                )
                agreement_id = existing["id"]
            else:
                cursor = db.execute(
                    "INSERT INTO agreements (customer_id, template_version, record_sha256, name, street, postcode, "
                    "city, country, email, signatory_name, signatory_title, issued_file, issued_sha256, issued_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        template_version,
                        record.sha256(),
                        record.name,
                        record.street,
                        record.postcode,
                        record.city,
                        record.country,
                        record.email,
                        record.signatory_name,
                        record.signatory_title,
                        str(issued_file),
                        issued_sha256,
                        _now(),
                    ),
                )
                agreement_id = cursor.lastrowid
            self._event(db, agreement_id, "issued", issued_sha256, None, str(issued_file))
            return self._get(db, agreement_id)

    def relocate(self, old_file: Path, sha256: str, new_file: Path) -> None:
        """An issued file was moved aside (a newer agreement took its name): point its row at the new place."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM agreements WHERE issued_file = ? AND issued_sha256 = ?", (str(old_file), sha256)
            ).fetchall()
            for row in rows:
                db.execute("UPDATE agreements SET issued_file = ? WHERE id = ?", (str(new_file), row["id"]))
                self._event(db, row["id"], "moved", sha256, None, f"{old_file} -> {new_file}")

    def record_ingest(
        self,
        agreement_id: int,
        signed_file: Path | None,
        signed_sha256: str,
        verdict: str,
        effective_date: date | None,
        detail: str,
        *,
        effective_date_basis: str | None = None,
    ) -> Agreement:
        """Record an ingest: with an effective date an issued agreement becomes ``effective``, else only the event.

        ``effective_date_basis``: what the date rests on (``timestamp`` or ``proof_of_existence``), kept with it.

        Evidence is never replaced: the same signed copy again is only an event (``ingested-again``); a different
        one for an agreement that is already effective raises :class:`~dpa.errors.EvidenceError` naming what is on
        file, and changes nothing.
        """
        with self._transaction() as db:
            current = self._get(db, agreement_id)
            if effective_date is not None and current.status == "effective":
                if current.signed_sha256 != signed_sha256:
                    raise EvidenceError(already_effective(current))
                kind = "ingested-again"
            elif effective_date is not None and current.status == "issued":
                db.execute(
                    "UPDATE agreements SET status = 'effective', effective_date = ?, signed_file = ?, "
                    "signed_sha256 = ?, effective_date_basis = ? WHERE id = ?",
                    (effective_date.isoformat(), str(signed_file), signed_sha256, effective_date_basis, agreement_id),
                )
                kind = "effective"
            else:
                kind = "ingest-refused"
            self._event(db, agreement_id, kind, signed_sha256, verdict, detail)
            return self._get(db, agreement_id)

    def confirm_signer(self, agreement_id: int, certificate_sha256: str, subject: str, file_sha256: str) -> None:
        """Legal confirms that the certificate ``certificate_sha256`` (subject DN ``subject``) signs for this
        agreement although it does not name the customer; recorded with an event."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO signer_confirmations (agreement_id, certificate_sha256, subject, at) "
                "VALUES (?, ?, ?, ?)",
                (agreement_id, certificate_sha256, subject, _now()),
            )
            detail = f"legal confirmed the signer {subject} (certificate SHA-256 {certificate_sha256})"
            self._event(db, agreement_id, "signer-confirmed", file_sha256, None, detail)

    def signer_confirmed(self, agreement_id: int, certificate_sha256: str) -> bool:
        """Whether legal confirmed this certificate as a signer for this agreement."""
        rows = self._read(
            "SELECT 1 FROM signer_confirmations WHERE agreement_id = ? AND certificate_sha256 = ?",
            (agreement_id, certificate_sha256),
        )
        return bool(rows)

    def record_refusal(self, agreement_id: int, file_sha256: str, verdict: str, detail: str) -> None:
        """Record a returned file that was refused before verification (e.g. not an extension of the issued one)."""
        with self._transaction() as db:
            self._event(db, agreement_id, "ingest-refused", file_sha256, verdict, detail)

    def record_archive_update(
        self, agreement_id: int, old_sha256: str, new_sha256: str, kind: str, detail: str
    ) -> Agreement:
        """An archive update (``archive-sealed``, ``archive-extended``) was appended to the stored signed copy: the
        agreement points at the file's new hash; the event keeps both."""
        with self._transaction() as db:
            db.execute("UPDATE agreements SET signed_sha256 = ? WHERE id = ?", (new_sha256, agreement_id))
            self._event(db, agreement_id, kind, new_sha256, None, f"{detail} (before: sha256 {old_sha256})")
            return self._get(db, agreement_id)

    def check_end_date(self, customer_id: str, on: date) -> None:
        """Refuse an end of the cooperation before the effective date of one of the customer's live agreements."""
        rows = self._read(
            "SELECT effective_date FROM agreements WHERE customer_id = ? AND status IN ('issued', 'effective') "
            "AND effective_date > ?",
            (customer_id, on.isoformat()),
        )
        if rows:
            raise RegisterError(
                f"{customer_id}: the cooperation cannot end on {on.isoformat()}, before the agreement's effective "
                f"date {rows[0]['effective_date']}"
            )

    def end(self, customer_id: str, on: date) -> list[Agreement]:
        """Record the end of the cooperation with a customer (all its live agreements become ``ended``)."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM agreements WHERE customer_id = ? AND status IN ('issued', 'effective')",
                (customer_id,),
            ).fetchall()
            if not rows:
                raise RegisterError(f"no issued or effective agreement for customer {customer_id}")
            for row in rows:
                db.execute(
                    "UPDATE agreements SET status = 'ended', cooperation_end = ? WHERE id = ?",
                    (on.isoformat(), row["id"]),
                )
                self._event(db, row["id"], "ended", None, None, f"cooperation ended on {on.isoformat()}")
            return [self._get(db, row["id"]) for row in rows]

    def purge(self, today: date, dry_run: bool = False, *, only: Collection[int] | None = None) -> list[Agreement]:
        """Delete files and personal data of agreements ended more than two years before ``today`` (with
        ``only``: of those register ids among them)."""
        cutoff = _years_before(today, RETENTION_YEARS).isoformat()
        with self._transaction() as db:
            due = [
                Agreement(**dict(row))
                for row in db.execute(
                    f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE status = 'ended' AND cooperation_end < ? "
                    "ORDER BY id",
                    (cutoff,),
                )
                if only is None or row["id"] in only
            ]
            if dry_run:
                return due
            for agreement in due:
                left = [
                    name
                    for name, sha256 in agreement.files()
                    if not delete_if_holds(Path(name), sha256) and Path(name).exists()
                ]
                assignments = ", ".join(f"{c} = NULL" for c in PERSONAL_COLUMNS)
                db.execute(
                    f"UPDATE agreements SET {assignments}, status = 'purged' WHERE id = ?",
                    (agreement.id,),
                )
                note = f"; left in place, since they now hold other content: {', '.join(left)}" if left else ""
                detail = "files and personal data deleted (art. 10.2 retention)" + note
                self._event(db, agreement.id, "purged", None, None, detail)
            return due

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        agreement_id: int | None,
        kind: str,
        file_sha256: str | None,
        verdict: str | None,
        detail: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO events (agreement_id, at, kind, file_sha256, verdict, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (agreement_id, _now(), kind, file_sha256, verdict, detail),
        )

    # --- reading ---------------------------------------------------------------------------------------------

    @staticmethod
    def _get(db: sqlite3.Connection, agreement_id: int | None) -> Agreement:
        row = db.execute(f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?", (agreement_id,)).fetchone()
        if row is None:
            raise RegisterError(f"no agreement with register id {agreement_id}")
        return Agreement(**dict(row))

    def agreements(self, status: str | None = None, customer_id: str | None = None) -> list[Agreement]:
        """Agreements, optionally of one status or one customer, oldest first."""
        if status is not None and status not in STATUSES:
            raise RegisterError(f"unknown status '{status}' (one of {', '.join(STATUSES)})")
        query = f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE 1 = 1"
        params: tuple[str, ...] = ()
        if status is not None:
            query += " AND status = ?"
            params += (status,)
        if customer_id is not None:
            query += " AND customer_id = ?"
            params += (customer_id,)
        return [Agreement(**dict(row)) for row in self._read(query + " ORDER BY id", params)]

    def by_signed_file(self, path: Path) -> Agreement | None:
        """The agreement whose stored signed copy is ``path`` (compared resolved), if any."""
        rows = self._read(f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE signed_file = ?", (str(path.resolve()),))
        return Agreement(**dict(rows[-1])) if rows else None

    def events(self, agreement_id: int) -> list[Event]:
        """The history of one agreement, oldest first."""
        rows = self._read(
            "SELECT at, kind, file_sha256, verdict, detail FROM events WHERE agreement_id = ? ORDER BY id",
            (agreement_id,),
        )
        return [Event(**dict(row)) for row in rows]

    def known_file(self, path: Path) -> KnownFile | None:
        """The agreement that ``path`` is a file of (by its place, or by its content when it exists), or None."""
        where = str(path.resolve())
        digest = file_sha256(path)
        for agreement in self.agreements():
            for kind, name, sha256 in (
                ("issued", agreement.issued_file, agreement.issued_sha256),
                ("signed", agreement.signed_file, agreement.signed_sha256),
            ):
                if (name and str(Path(name).resolve()) == where) or (digest is not None and digest == sha256):
                    return KnownFile(agreement, kind)
        return None

    def export_csv(self, target: Path, *, force: bool = False) -> int:
        """Write every agreement as CSV (atomically, formulas neutralised); returns the number of rows.

        Never onto the register itself or a file the register keeps; onto another existing file only when it is
        an export this method wrote (its header line is recognised), or with ``force``.
        """
        check_export_target(target, self.path, self.known_file(target), force=force)
        rows = self.agreements()
        write_export(target, rows)
        return len(rows)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def to_json(agreement: Agreement) -> str:
    """One agreement as a JSON line."""
    return json.dumps(agreement.as_dict(), ensure_ascii=False, sort_keys=True)
