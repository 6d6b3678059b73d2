"""Accounts of the web application, kept in the register's database: users, sessions, API tokens, actions.

* Passwords are argon2id hashes (argon2-cffi); a login that fails five times locks the account for 15 minutes.
* A session is a random id kept by the browser in a signed cookie; the server stores only its SHA-256, checks it
  on every request and forgets every session of a user who is disabled.
* An API token is shown once and stored as its SHA-256 (it has 256 random bits, so a slow hash adds nothing).
* Every action of a user goes into the append-only ``actions`` table, with the user's name.
* A purge that falls due runs only when a second legal user approves the first one's request.

No function here returns or records a password, a session id or a token except the one that makes it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dpa.errors import AccountError, LoginError, RegisterError
from dpa.records import BIDI_CONTROLS, EMAIL_PATTERN, ID_PATTERN
from dpa.register import Agreement, Register

AccountRole = Literal["sales", "legal", "ops", "admin"]
ACCOUNT_ROLES: tuple[AccountRole, ...] = ("sales", "legal", "ops", "admin")
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "dpa_"  # noqa: S105 - the visible prefix of every API token, not a secret
USER_COLUMNS = "id, name, role, must_change_password, disabled, failed_logins, locked_until, created_at, email"

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
"""Verified against when the user does not exist, so that a login takes as long for every name."""


@dataclass(frozen=True)
class User:
    """One account (never with its password hash)."""

    id: int
    name: str
    role: str
    must_change_password: bool
    disabled: bool
    failed_logins: int
    locked_until: str | None
    created_at: str
    email: str | None = None
    """Where the signing page tells them that a customer they invited signed (``dpa users add --email``)."""


@dataclass(frozen=True)
class Action:
    """One entry of the actions log: who did what, when, to which agreement."""

    at: str
    actor: str
    action: str
    agreement_id: int | None
    detail: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_email(value: str) -> str:
    """An account's e-mail address, NFC and trimmed; :class:`AccountError` for anything that is not one."""
    address = unicodedata.normalize("NFC", value).strip()
    bad = any(ch in BIDI_CONTROLS or unicodedata.category(ch).startswith("C") for ch in address)
    if bad or len(address) > 254 or not EMAIL_PATTERN.match(address):
        raise AccountError(f"'{address.encode('unicode_escape').decode('ascii')}' is not an e-mail address")
    return address


def new_password() -> str:
    """A random one-time password (20 characters)."""
    return secrets.token_urlsafe(15)


def check_password_strength(password: str) -> None:
    """Refuse a password that is too short or only white space."""
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class Accounts:
    """Users, sessions, tokens and actions in the register's database (its migrations create the tables)."""

    def __init__(self, register: Register, *, session_hours: int = 12) -> None:
        self.register = register
        self.session_hours = session_hours

    # --- users -----------------------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: str,
        password: str,
        *,
        must_change: bool = False,
        actor: str = "cli",
        email: str | None = None,
    ) -> User:
        """Create an account; ``must_change`` forces a new password at the first login; ``email`` (optional) is
        where the signing page tells them that a customer they invited signed."""
        address = check_email(email) if email else None
        if not ID_PATTERN.match(name):
            raise AccountError("a user name is 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if role not in ACCOUNT_ROLES:
            raise AccountError(f"unknown role '{role}' (one of {', '.join(ACCOUNT_ROLES)})")
        check_password_strength(password)
        digest = _HASHER.hash(password)
        with self.register.transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"a user named {name} exists already")
            db.execute(
                "INSERT INTO users (name, role, password_hash, must_change_password, created_at, email) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, digest, int(must_change), _iso(_now()), address),
            )
            self._record(db, actor, "user-added", None, f"{name} ({role})" + (f", {address}" if address else ""))
        return self.get(name)

    def get(self, name: str) -> User:
        """The account called ``name``."""
        rows = self.register.query(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,))
        if not rows:
            raise AccountError(f"no user named {name}")
        return _user(rows[0])

    def users(self) -> list[User]:
        """Every account, by name."""
        return [_user(row) for row in self.register.query(f"SELECT {USER_COLUMNS} FROM users ORDER BY name")]

    def email_of(self, name: str) -> str | None:
        """The e-mail address of the active account ``name``, or None (no such user, disabled, or none given)."""
        rows = self.register.query("SELECT email, disabled FROM users WHERE name = ?", (name,))
        if not rows or rows[0]["disabled"]:
            return None
        return str(rows[0]["email"]) if rows[0]["email"] else None

    def has_users(self) -> bool:
        """Whether any account exists."""
        return bool(self.register.query("SELECT 1 FROM users LIMIT 1"))

    def disable(self, name: str, *, actor: str = "cli") -> User:
        """Disable an account: it cannot log in, its sessions end and its API tokens are revoked."""
        user = self.get(name)
        now = _iso(_now())
        with self.register.transaction() as db:
            db.execute("UPDATE users SET disabled = 1 WHERE id = ?", (user.id,))
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user.id))
            self._record(db, actor, "user-disabled", None, name)
        return self.get(name)

    def set_password(self, name: str, password: str, *, actor: str, must_change: bool = False) -> None:
        """Give ``name`` a new password (and unlock it)."""
        check_password_strength(password)
        user = self.get(name)
        digest = _HASHER.hash(password)
        with self.register.transaction() as db:
            db.execute(
                "UPDATE users SET password_hash = ?, must_change_password = ?, failed_logins = 0, locked_until = NULL "
                "WHERE id = ?",
                (digest, int(must_change), user.id),
            )
            self._record(db, actor, "password-set", None, name)

    def change_password(self, user: User, current: str, new: str) -> None:
        """The user's own change: the current password must be right (a wrong one counts as a failed login)."""
        self.authenticate(user.name, current, record=False)
        if current == new:
            raise AccountError("the new password must differ from the current one")
        self.set_password(user.name, new, actor=user.name)

    # --- logging in ------------------------------------------------------------------------------------------

    def authenticate(self, name: str, password: str, *, record: bool = True) -> User:
        """The user whose name and password these are, or :class:`LoginError`; failures count towards the lock."""
        now = _now()
        rows = self.register.query(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ?", (name,))
        if not rows:
            _verify(_DUMMY_HASH, password)
            raise LoginError("wrong user name or password")
        row = rows[0]
        user = _user(row)
        if user.locked_until and datetime.fromisoformat(user.locked_until) > now:
            raise LoginError(
                f"this account is locked for {LOCK_MINUTES} minutes after {MAX_FAILED_LOGINS} failed logins"
            )
        if not _verify(row["password_hash"], password):
            self._failed(user, now)
            raise LoginError("wrong user name or password")
        if user.disabled:
            raise LoginError("this account is disabled")
        with self.register.transaction() as db:
            db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user.id,))
            if record:
                self._record(db, user.name, "login", None, None)
        return self.get(name)

    def _failed(self, user: User, now: datetime) -> None:
        with self.register.transaction() as db:
            count = db.execute("SELECT failed_logins FROM users WHERE id = ?", (user.id,)).fetchone()[0] + 1
            locked = _iso(now + timedelta(minutes=LOCK_MINUTES)) if count >= MAX_FAILED_LOGINS else None
            db.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                (0 if locked else count, locked, user.id),
            )
            self._record(db, user.name, "login-failed", None, "account locked" if locked else f"attempt {count}")

    # --- sessions --------------------------------------------------------------------------------------------

    def start_session(self, user: User) -> str:
        """A new session id for ``user`` (the caller puts it in a signed cookie; only its hash is stored)."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        with self.register.transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (_iso(now),))
            db.execute(
                "INSERT INTO sessions (id_sha256, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (_sha256(session_id), user.id, _iso(now), _iso(now + timedelta(hours=self.session_hours))),
            )
        return session_id

    def session_user(self, session_id: str) -> User | None:
        """The user of a live session, or None (unknown, expired, or the user is disabled)."""
        rows = self.register.query(
            f"SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.id_sha256 = ? AND s.expires_at > ? AND u.disabled = 0",
            (_sha256(session_id), _iso(_now())),
        )
        return _user(rows[0]) if rows else None

    def end_session(self, session_id: str, user: User) -> None:
        """Log out: forget this session."""
        with self.register.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_sha256(session_id),))
            self._record(db, user.name, "logout", None, None)

    # --- API tokens ------------------------------------------------------------------------------------------

    def issue_token(self, name: str, *, actor: str = "cli") -> str:
        """A new API token for ``name``, returned once; it replaces (revokes) the user's previous token."""
        user = self.get(name)
        if user.disabled:
            raise AccountError(f"{name} is disabled")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _iso(_now())
        with self.register.transaction() as db:
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (now, user.id))
            db.execute(
                "INSERT INTO api_tokens (token_sha256, user_id, created_at) VALUES (?, ?, ?)",
                (_sha256(token), user.id, now),
            )
            self._record(db, actor, "token-issued", None, name)
        return token

    def revoke_tokens(self, name: str, *, actor: str = "cli") -> int:
        """Revoke every API token of ``name``; returns how many were live."""
        user = self.get(name)
        with self.register.transaction() as db:
            cursor = db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (_iso(_now()), user.id)
            )
            self._record(db, actor, "token-revoked", None, name)
            return cursor.rowcount

    def token_user(self, token: str) -> User | None:
        """The user of a live API token, or None."""
        rows = self.register.query(
            f"SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} FROM api_tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ? AND t.revoked_at IS NULL AND u.disabled = 0",
            (_sha256(token),),
        )
        return _user(rows[0]) if rows else None

    # --- actions ---------------------------------------------------------------------------------------------

    def record(self, actor: str, action: str, agreement_id: int | None = None, detail: str | None = None) -> None:
        """Append one action (never with a secret in ``detail``)."""
        with self.register.transaction() as db:
            self._record(db, actor, action, agreement_id, detail)

    def actions(self, agreement_id: int | None = None, limit: int = 200) -> list[Action]:
        """The newest actions, of one agreement or of all."""
        where, params = ("WHERE agreement_id = ?", (agreement_id,)) if agreement_id is not None else ("", ())
        rows = self.register.query(
            f"SELECT at, actor, action, agreement_id, detail FROM actions {where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [Action(**dict(row)) for row in rows]

    @staticmethod
    def _record(db: sqlite3.Connection, actor: str, action: str, agreement_id: int | None, detail: str | None) -> None:
        db.execute(
            "INSERT INTO actions (at, actor, action, agreement_id, detail) VALUES (?, ?, ?, ?, ?)",
            (_iso(_now()), actor, action, agreement_id, detail),
        )

    # --- deleting evidence takes two people ------------------------------------------------------------------

    def purge_request(self, agreement_id: int) -> str | None:
        """Who asked to purge this agreement, or None."""
        rows = self.register.query("SELECT requested_by FROM purge_approvals WHERE agreement_id = ?", (agreement_id,))
        return str(rows[0][0]) if rows else None

    def request_or_approve_purge(self, agreement: Agreement, user: User, today: date) -> list[Agreement]:
        """A legal user asks for the purge of a due agreement; a second, different legal user's approval runs it.

        Returns the purged agreements (empty while it waits for the second approval).
        """
        if user.role != "legal":
            raise AccountError("only legal staff can approve a purge")
        if not self.register.purge(today, dry_run=True, only=(agreement.id,)):
            raise RegisterError(f"{agreement.customer_id}: this agreement is not due for deletion")
        requested_by = self.purge_request(agreement.id)
        if requested_by is None:
            with self.register.transaction() as db:
                db.execute(
                    "INSERT INTO purge_approvals (agreement_id, requested_by, requested_at) VALUES (?, ?, ?)",
                    (agreement.id, user.name, _iso(_now())),
                )
                self._record(db, user.name, "purge-requested", agreement.id, "waits for a second legal user")
            return []
        if requested_by == user.name:
            raise AccountError("a second legal user must approve this purge: you asked for it yourself")
        purged = self.register.purge(today, only=(agreement.id,))
        with self.register.transaction() as db:
            db.execute("DELETE FROM purge_approvals WHERE agreement_id = ?", (agreement.id,))
            self._record(db, user.name, "purge-approved", agreement.id, f"requested by {requested_by}")
        return purged


def _verify(digest: str, password: str) -> bool:
    try:
        return _HASHER.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user(row: sqlite3.Row) -> User:
    data = dict(row)
    return User(
        id=int(data["id"]),
        name=str(data["name"]),
        role=str(data["role"]),
        must_change_password=bool(data["must_change_password"]),
        disabled=bool(data["disabled"]),
        failed_logins=int(data["failed_logins"]),
        locked_until=data["locked_until"],
        created_at=str(data["created_at"]),
        email=data.get("email"),
    )
