"""The signing page's evidence chain in a real register: every event carries the hash of the one before it, a
changed or removed earlier event is found, and the words for the agreement page and the report; plus the
configuration sections of the signing page and the checks on what the signer types."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import pytest

from dpa.config import config_from_dict
from dpa.errors import ConfigError
from dpa.portal.errors import PortalError
from dpa.portal.evidence import GENESIS, append_event, event_hash, portal_evidence
from dpa.portal.invitations import clean_signatory_text
from dpa.register import Register
from tests.conftest import make_record
from tests.portal_support import enter_agreement
from tests.signing_support import build_test_agreement

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def chained_register(tmp_path: Path) -> tuple[Register, int]:
    register = Register(tmp_path / "register.sqlite3")
    agreement = enter_agreement(register, make_record(id="C-1"), build_test_agreement(), tmp_path)
    with register.transaction() as db:
        append_event(db, agreement.id, "invited", {"to": "a@b.example", "by": "sales-anna"}, AT)
        append_event(db, agreement.id, "page-opened", {"ip": "192.0.2.1", "user_agent": "X\u202eY\x07"}, AT)
        append_event(db, agreement.id, "code-verified", {"email": "a@b.example"}, AT)
    return register, agreement.id


def test_every_signing_page_event_carries_the_hash_of_the_one_before(tmp_path: Path) -> None:
    register, agreement_id = chained_register(tmp_path)
    rows = register.query("SELECT * FROM events WHERE agreement_id = ? ORDER BY id", (agreement_id,))
    assert [r["kind"] for r in rows] == ["issued", "invited", "page-opened", "code-verified"]
    assert rows[0]["prev_hash"] is None  # written by the register itself, covered by the next event
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == event_hash(before) != GENESIS
    evidence = portal_evidence(register, agreement_id)
    assert evidence.chain_intact and evidence.head == event_hash(rows[-1])
    assert evidence.identification("nl") == "e-mailadres bevestigd met een eenmalige code"
    text = "\n".join(evidence.text())
    assert "signer identified: e-mail address confirmed by a one-time code" in text
    assert "X\\u202eY\\u0007" in text  # what the browser sent, escaped
    assert "one-time code confirmed" in text and "evidence chain intact" in text
    register.close()


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE events SET detail = '{\"to\": \"x@y.example\"}' WHERE kind = 'invited'",
        "DELETE FROM events WHERE kind = 'page-opened'",
        "UPDATE events SET at = '2020-01-01T00:00:00+00:00' WHERE kind = 'issued'",
    ],
)
def test_a_changed_or_removed_earlier_event_breaks_the_chain(tmp_path: Path, tamper: str) -> None:
    register, agreement_id = chained_register(tmp_path)
    with register.transaction() as db:  # what someone with write access to the file could do
        db.execute("DROP TRIGGER events_append_only_update")
        db.execute("DROP TRIGGER events_append_only_delete")
        db.execute(tamper)
    evidence = portal_evidence(register, agreement_id)
    assert not evidence.chain_intact
    assert "does not carry the hash of the event before it" in evidence.problems[0]
    assert any(line.startswith("EVIDENCE CHAIN BROKEN") for line in evidence.text())
    register.close()


def test_events_stay_append_only(tmp_path: Path) -> None:
    register, _agreement_id = chained_register(tmp_path)
    with pytest.raises(Exception, match="append-only"), register.transaction() as db:
        db.execute("UPDATE events SET detail = 'x' WHERE kind = 'invited'")
    register.close()


def test_what_the_signer_types_is_checked() -> None:
    assert clean_signatory_text("  Marieke van den Berg-O\u0308ztu\u0308rk ", "signatory_name", required=True) == (
        "Marieke van den Berg-Öztürk"
    )
    assert clean_signatory_text("", "signatory_title", required=False) == ""
    for bad, why in (
        ("J. de \u202eVries", "control character U+202E"),
        ("Jan\nJansen", "control character U+000A"),
        ("\u00a0\u3000", "required"),
        ("\u0301\u0308", "required"),
        ("x" * 121, "longer than 120"),
    ):
        with pytest.raises(PortalError, match=re.escape(why)):
            clean_signatory_text(bad, "signatory_name", required=True)


def test_signing_page_configuration(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "smtp": {"host": "smtp.ipcall.me", "from": "dpa@ipcall.me", "username": "dpa", "password_env": "SMTP_PW"},
            "portal": {"base_url": "https://dpa.ipcall.me", "link_days": 14, "secret_env": "DPA_PORTAL_SECRET"},
            "signing_ca": {"cert": "ca.pem", "pkcs11": {"module": "/lib/p11.so", "token_label": "t", "key_label": "k"}},
        },
        base=tmp_path,
    )
    assert config.smtp is not None and config.smtp.sender == "dpa@ipcall.me" and config.smtp.starttls is True
    assert config.smtp.port == 587 and config.portal.link_days == 14
    assert config.signing_ca is not None and config.signing_ca.cert == tmp_path / "ca.pem"
    assert config.signing_ca.pkcs11 is not None and config.signing_ca.cert_minutes == 60
    for bad, message in (
        ({"smtp": {"host": "h"}}, "[smtp] missing key 'from'"),
        ({"smtp": {"host": "h", "from": "a@b", "password": "x"}}, "[smtp] unknown key 'password'"),
        ({"smtp": {"host": "h", "from": "a@b", "starttls": "yes"}}, "'smtp.starttls' must be true or false"),
        ({"portal": {"base_url": "ftp://x"}}, "base_url must start with https://"),
        ({"portal": {"link_days": 0}}, "link_days must be between 1 and 365"),
        ({"signing_ca": {"cert": "c.pem"}}, "exactly one of 'key'"),
        ({"signing_ca": {"cert": "c.pem", "key": "k.pem", "cert_minutes": 2}}, "cert_minutes must be between"),
    ):
        with pytest.raises(ConfigError) as caught:
            config_from_dict(bad, base=tmp_path)
        assert message in str(caught.value)
