"""Accounts on a real SQLite register: argon2 hashes, lockout, sessions, tokens, actions, the two-person purge."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from dpa.accounts import LOCK_MINUTES, MAX_FAILED_LOGINS, Accounts
from dpa.errors import AccountError, LoginError, RegisterError
from dpa.register import Register
from tests.conftest import make_record

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    register = Register(tmp_path / "register.sqlite3")
    return Accounts(register)


def test_password_is_stored_as_argon2_and_never_in_the_actions(accounts: Accounts, tmp_path: Path) -> None:
    accounts.add("anna", "sales", PASSWORD)
    assert accounts.authenticate("anna", PASSWORD).name == "anna"
    with sqlite3.connect(tmp_path / "register.sqlite3") as db:
        stored = db.execute("SELECT password_hash FROM users WHERE name = 'anna'").fetchone()[0]
        dump = "\n".join(db.iterdump())
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in dump
    assert [a.action for a in accounts.actions()] == ["login", "user-added"]


def test_bad_input_is_refused_with_a_reason(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="at least 12 characters"):
        accounts.add("anna", "sales", "short")
    with pytest.raises(AccountError, match="unknown role"):
        accounts.add("anna", "root", PASSWORD)
    with pytest.raises(AccountError, match="user name"):
        accounts.add("../anna", "sales", PASSWORD)
    accounts.add("anna", "sales", PASSWORD)
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("anna", "legal", PASSWORD)


def test_five_wrong_passwords_lock_the_account(accounts: Accounts) -> None:
    accounts.add("anna", "sales", PASSWORD)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginError, match="wrong user name or password"):
            accounts.authenticate("anna", "wrong password!!")
    with pytest.raises(LoginError, match=f"locked for {LOCK_MINUTES} minutes"):
        accounts.authenticate("anna", PASSWORD)
    assert accounts.get("anna").locked_until is not None
    with pytest.raises(LoginError, match="wrong user name or password"):
        accounts.authenticate("nobody", PASSWORD)


def test_sessions_are_stored_hashed_and_end_when_the_user_is_disabled(accounts: Accounts, tmp_path: Path) -> None:
    user = accounts.add("anna", "sales", PASSWORD)
    session = accounts.start_session(user)
    assert accounts.session_user(session) == accounts.get("anna")
    with sqlite3.connect(tmp_path / "register.sqlite3") as db:
        stored = [row[0] for row in db.execute("SELECT id_sha256 FROM sessions")]
    assert stored == [hashlib.sha256(session.encode()).hexdigest()]
    accounts.disable("anna")
    assert accounts.session_user(session) is None
    with pytest.raises(LoginError, match="disabled"):
        accounts.authenticate("anna", PASSWORD)


def test_a_new_token_replaces_the_old_and_a_revoked_one_stops_working(accounts: Accounts) -> None:
    accounts.add("anna", "legal", PASSWORD)
    first = accounts.issue_token("anna")
    assert first.startswith("dpa_") and accounts.token_user(first) is not None
    second = accounts.issue_token("anna")
    assert accounts.token_user(first) is None and accounts.token_user(second) is not None
    assert accounts.revoke_tokens("anna") == 1
    assert accounts.token_user(second) is None
    assert accounts.token_user("dpa_made-up") is None


def test_change_password_needs_the_current_one(accounts: Accounts) -> None:
    user = accounts.add("anna", "sales", PASSWORD, must_change=True)
    with pytest.raises(LoginError):
        accounts.change_password(user, "not the password", "another good password")
    accounts.change_password(user, PASSWORD, "another good password")
    changed = accounts.authenticate("anna", "another good password")
    assert not changed.must_change_password


def test_a_purge_needs_a_second_legal_user(accounts: Accounts, tmp_path: Path) -> None:
    register = accounts.register
    issued = tmp_path / "C-1.pdf"
    issued.write_bytes(b"%PDF issued")
    row = register.record_issued(make_record(id="C-1"), "t" * 64, issued, hashlib.sha256(b"%PDF issued").hexdigest())
    register.end("C-1", date(2020, 1, 31))
    first = accounts.add("lena", "legal", PASSWORD)
    second = accounts.add("lars", "legal", PASSWORD)
    sales = accounts.add("sam", "sales", PASSWORD)
    agreement = register.agreements(customer_id="C-1")[0]
    with pytest.raises(AccountError, match="only legal"):
        accounts.request_or_approve_purge(agreement, sales, date(2026, 12, 1))
    assert accounts.request_or_approve_purge(agreement, first, date(2026, 12, 1)) == []
    assert issued.exists() and accounts.purge_request(row.id) == "lena"
    with pytest.raises(AccountError, match="second legal user"):
        accounts.request_or_approve_purge(agreement, first, date(2026, 12, 1))
    purged = accounts.request_or_approve_purge(agreement, second, date(2026, 12, 1))
    assert [a.id for a in purged] == [row.id] and not issued.exists()
    assert register.agreements(customer_id="C-1")[0].status == "purged"
    assert {a.action for a in accounts.actions(row.id)} == {"purge-requested", "purge-approved"}


def test_a_purge_not_yet_due_is_refused(accounts: Accounts, tmp_path: Path) -> None:
    issued = tmp_path / "C-2.pdf"
    issued.write_bytes(b"%PDF")
    accounts.register.record_issued(make_record(id="C-2"), "t" * 64, issued, hashlib.sha256(b"%PDF").hexdigest())
    lena = accounts.add("lena", "legal", PASSWORD)
    agreement = accounts.register.agreements(customer_id="C-2")[0]
    with pytest.raises(RegisterError, match="not due"):
        accounts.request_or_approve_purge(agreement, lena, date(2026, 12, 1))


def test_actions_are_append_only(accounts: Accounts, tmp_path: Path) -> None:
    accounts.add("anna", "sales", PASSWORD)
    with (
        sqlite3.connect(tmp_path / "register.sqlite3") as db,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        db.execute("DELETE FROM actions")
