"""The register's schema: one tuple of SQL statements per version, applied in order by :class:`dpa.register.Register`.

Migrations are only ever appended: a database at version N runs ``MIGRATIONS[N:]`` when it is opened. Version 1:
agreements and the append-only events; 2: legal's signer confirmations; 3: the web application's accounts
(:mod:`dpa.accounts_schema`); 4: the customer's signing page (:mod:`dpa.portal`) and the events' hash chain; 5:
accounts' e-mail addresses (the signing page tells the user who sent a link when the customer has signed); 6: what
an agreement's effective date rests on (``timestamp``, or ``proof_of_existence`` for a counter-signature without a
timestamp that ingest dated by its archive timestamp: "no later than").
"""

from __future__ import annotations

from dpa.accounts_schema import ACCOUNT_EMAIL, ACCOUNT_TABLES

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
    (  # legal's confirmation that a signer whose certificate does not name the customer signs for this agreement
        """CREATE TABLE signer_confirmations (
            agreement_id       INTEGER NOT NULL REFERENCES agreements (id),
            certificate_sha256 TEXT NOT NULL,
            subject            TEXT NOT NULL,
            at                 TEXT NOT NULL,
            PRIMARY KEY (agreement_id, certificate_sha256)
        )""",
    ),
    ACCOUNT_TABLES,
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
    ACCOUNT_EMAIL,
    # the basis of the effective date (DESIGN.md §5 effective_date_basis); NULL for rows made before it was kept
    ("ALTER TABLE agreements ADD COLUMN effective_date_basis TEXT",),
)
