"""The tables of the web application's accounts (:mod:`dpa.accounts`) in the register's database: migrations of
:data:`dpa.register.MIGRATIONS` (kept here so that the register module stays about agreements)."""

from __future__ import annotations

ACCOUNT_TABLES: tuple[str, ...] = (
    """CREATE TABLE users (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        role                 TEXT NOT NULL CHECK (role IN ('sales', 'legal', 'ops', 'admin')),
        password_hash        TEXT NOT NULL,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        disabled             INTEGER NOT NULL DEFAULT 0,
        failed_logins        INTEGER NOT NULL DEFAULT 0,
        locked_until         TEXT,
        created_at           TEXT NOT NULL
    )""",
    """CREATE TABLE sessions (
        id_sha256   TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    )""",
    """CREATE TABLE api_tokens (
        token_sha256 TEXT PRIMARY KEY,
        user_id      INTEGER NOT NULL REFERENCES users (id),
        created_at   TEXT NOT NULL,
        revoked_at   TEXT
    )""",
    """CREATE TABLE actions (
        id           INTEGER PRIMARY KEY,
        at           TEXT NOT NULL,
        actor        TEXT NOT NULL,
        action       TEXT NOT NULL,
        agreement_id INTEGER REFERENCES agreements (id),
        detail       TEXT
    )""",
    "CREATE INDEX actions_agreement ON actions (agreement_id)",
    """CREATE TRIGGER actions_append_only_update BEFORE UPDATE ON actions
        BEGIN SELECT RAISE(ABORT, 'actions are append-only'); END""",
    """CREATE TRIGGER actions_append_only_delete BEFORE DELETE ON actions
        BEGIN SELECT RAISE(ABORT, 'actions are append-only'); END""",
    """CREATE TABLE purge_approvals (
        agreement_id INTEGER PRIMARY KEY REFERENCES agreements (id),
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL
    )""",
)

ACCOUNT_EMAIL: tuple[str, ...] = ("ALTER TABLE users ADD COLUMN email TEXT",)
"""A user's e-mail address (optional): where the signing page tells them that a customer they invited signed."""
