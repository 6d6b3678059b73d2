"""The agreement register: which customer has which agreement, in force since when, and its history.

A SQLite database (WAL, foreign keys, a schema version with migrations). ``agreements`` holds one row per issued
agreement (idempotency key: customer id + template version + record hash); ``events`` is append-only: what
happened, when, with which file hash and verdict. Retention (art. 10.2): two years after the cooperation ends
the files and the personal data go; a tombstone with hashes and dates stays.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dpa.errors import RegisterError
from dpa.files import spreadsheet_safe, write_atomic
from dpa.records import CustomerRecord

STATUSES = ("issued", "effective", "rejected", "ended", "purged")
RETENTION_YEARS = 2
PERSONAL_COLUMNS = ("name", "street", "postcode", "city", "email", "signatory_name", "signatory_title")

# One tuple of statements per schema version; a database at version N runs MIGRATIONS[N:] on open.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE agreements (
            id               INTEGER PRIMARY KEY,
            customer_id      TEXT NOT NULL,
            template_version TEXT NOT NULL,
            record_sha256    TEXT NOT NULL,
            name             TEXT,
            street           TEXT,
            postcode         TEXT,
            city             TEXT,
            country          TEXT,
            email            TEXT,
            signatory_name   TEXT,
            signatory_title  TEXT,
            issued_file      TEXT,
            issued_sha256    TEXT NOT NULL,
            issued_at        TEXT NOT NULL,
            signed_file      TEXT,
            signed_sha256    TEXT,
            status           TEXT NOT NULL DEFAULT 'issued'
                             CHECK (status IN ('issued', 'effective', 'rejected', 'ended', 'purged')),
            effective_date   TEXT,
            cooperation_end  TEXT,
            UNIQUE (customer_id, template_version, record_sha256)
        )""",
        "CREATE INDEX agreements_customer ON agreements (customer_id)",
        "CREATE INDEX agreements_status ON agreements (status)",
        """CREATE TABLE events (
            id           INTEGER PRIMARY KEY,
            agreement_id INTEGER NOT NULL REFERENCES agreements (id),
            at           TEXT NOT NULL,
            kind         TEXT NOT NULL,
            file_sha256  TEXT,
            verdict      TEXT,
            detail       TEXT
        )""",
        "CREATE INDEX events_agreement ON events (agreement_id)",
        """CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
    ),
    # The customer's signing page (dpa.portal): invitations, certificates of the customer-signing CA, signatures
    # waiting for the browser; events gain the hash of the event before them (dpa.portal.evidence).
    (
        """CREATE TABLE portal_invitations (
            id               INTEGER PRIMARY KEY,
            agreement_id     INTEGER NOT NULL REFERENCES agreements (id),
            token_sha256     TEXT NOT NULL UNIQUE,
            email            TEXT NOT NULL,
            invited_by       TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            expires_at       TEXT NOT NULL,
            status           TEXT NOT NULL DEFAULT 'open'
                             CHECK (status IN ('open', 'used', 'locked', 'superseded')),
            opened_at        TEXT,
            codes_sent       INTEGER NOT NULL DEFAULT 0,
            wrong_codes      INTEGER NOT NULL DEFAULT 0,
            code_salt        TEXT,
            code_mac         TEXT,
            code_expires_at  TEXT,
            session_sha256   TEXT,
            verified_at      TEXT,
            challenge        BLOB,
            challenge_expires_at TEXT
        )""",
        "CREATE INDEX portal_invitations_agreement ON portal_invitations (agreement_id)",
        """CREATE TABLE portal_certificates (
            serial           TEXT PRIMARY KEY,
            invitation_id    INTEGER NOT NULL REFERENCES portal_invitations (id),
            session_sha256   TEXT NOT NULL,
            key_sha256       TEXT NOT NULL,
            certificate      BLOB NOT NULL,
            issued_at        TEXT NOT NULL,
            not_after        TEXT NOT NULL,
            used_at          TEXT,
            revoked_at       TEXT,
            revocation_reason TEXT
        )""",
        "CREATE INDEX portal_certificates_invitation ON portal_certificates (invitation_id)",
        """CREATE TABLE portal_pending (
            invitation_id    INTEGER PRIMARY KEY REFERENCES portal_invitations (id),
            session_sha256   TEXT NOT NULL,
            serial           TEXT NOT NULL REFERENCES portal_certificates (serial),
            created_at       TEXT NOT NULL,
            prepared_pdf     BLOB NOT NULL,
            document_digest  BLOB NOT NULL,
            reserved_start   INTEGER NOT NULL,
            reserved_end     INTEGER NOT NULL,
            signed_attributes BLOB NOT NULL,
            evidence_head    TEXT NOT NULL
        )""",
        "ALTER TABLE events ADD COLUMN prev_hash TEXT",
    ),
)


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

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """An IMMEDIATE transaction on the register's connection, for modules that keep tables of their own here
        (:mod:`dpa.portal`); everything done in it commits together or not at all."""
        return self._transaction()

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query (for modules with tables of their own, like :meth:`transaction`)."""
        return self._read(query, params)

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
            _refuse_reissue(Agreement(**dict(rows[0])))

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
                _refuse_reissue(Agreement(**dict(existing)))
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
    ) -> Agreement:
        """Record an ingest: with an effective date the agreement becomes ``effective``, else only the event."""
        with self._transaction() as db:
            current = self._get(db, agreement_id)
            if effective_date is not None and current.status in ("issued", "effective"):
                db.execute(
                    "UPDATE agreements SET status = 'effective', effective_date = ?, signed_file = ?, "
                    "signed_sha256 = ? WHERE id = ?",
                    (effective_date.isoformat(), str(signed_file), signed_sha256, agreement_id),
                )
                kind = "effective" if current.signed_sha256 != signed_sha256 else "ingested-again"
            else:
                kind = "ingest-refused"
            self._event(db, agreement_id, kind, signed_sha256, verdict, detail)
            return self._get(db, agreement_id)

    def record_refusal(self, agreement_id: int, file_sha256: str, verdict: str, detail: str) -> None:
        """Record a returned file that was refused before verification (e.g. not an extension of the issued one)."""
        with self._transaction() as db:
            self._event(db, agreement_id, "ingest-refused", file_sha256, verdict, detail)

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

    def purge(self, today: date, dry_run: bool = False) -> list[Agreement]:
        """Delete files and personal data of agreements ended more than two years before ``today``."""
        cutoff = _years_before(today, RETENTION_YEARS).isoformat()
        with self._transaction() as db:
            due = [
                Agreement(**dict(row))
                for row in db.execute(
                    f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE status = 'ended' AND cooperation_end < ? "
                    "ORDER BY id",
                    (cutoff,),
                )
            ]
            if dry_run:
                return due
            for agreement in due:
                for name in (agreement.issued_file, agreement.signed_file):
                    if name:
                        try:
                            Path(name).unlink(missing_ok=True)
                        except OSError as exc:
                            raise RegisterError(f"cannot delete {name}: {exc.strerror or exc}") from None
                assignments = ", ".join(f"{c} = NULL" for c in PERSONAL_COLUMNS)
                db.execute(
                    f"UPDATE agreements SET {assignments}, status = 'purged' WHERE id = ?",
                    (agreement.id,),
                )
                self._event(
                    db, agreement.id, "purged", None, None, "files and personal data deleted (art. 10.2 retention)"
                )
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

    def events(self, agreement_id: int) -> list[Event]:
        """The history of one agreement, oldest first."""
        rows = self._read(
            "SELECT at, kind, file_sha256, verdict, detail FROM events WHERE agreement_id = ? ORDER BY id",
            (agreement_id,),
        )
        return [Event(**dict(row)) for row in rows]

    def export_csv(self, target: Path) -> int:
        """Write every agreement as CSV (atomically, formulas neutralised); returns the number of rows."""
        rows = self.agreements()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Agreement)])
        writer.writeheader()
        for agreement in rows:
            writer.writerow(
                {k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in agreement.as_dict().items()}
            )
        write_atomic(target, out.getvalue().encode("utf-8"))
        return len(rows)


def _refuse_reissue(existing: Agreement) -> None:
    """An agreement for the same record and template exists: issuing it again would orphan the customer's copy.

    Allowed only when the issued file is gone (lost) and the agreement is still merely issued.
    """
    if existing.status != "issued":
        raise RegisterError(
            f"{existing.customer_id}: the agreement for this record and template is already {existing.status}; "
            "it is not issued again"
        )
    if existing.issued_file and _file_sha256(Path(existing.issued_file)) == existing.issued_sha256:
        raise RegisterError(
            f"{existing.customer_id}: this agreement was already issued as {existing.issued_file}; send that file "
            "(issuing it again would leave the customer's copy without a match)"
        )


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def to_json(agreement: Agreement) -> str:
    """One agreement as a JSON line."""
    return json.dumps(agreement.as_dict(), ensure_ascii=False, sort_keys=True)
