"""Signing links and one-time codes against a real register and a real SMTP server (aiosmtpd on loopback).

The refusals of issue 14: an expired link (a fixed clock, no sleeping), 5 wrong codes lock the link, a code for one
link does not work on another, a step from another browser session, and the token and the code never in a log.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpa.config import Config, SmtpConfig, load_config
from dpa.devtools.devpki import DevPki
from dpa.portal.errors import (
    CodeRejected,
    InvitationRefused,
    LinkGone,
    LinkNotFound,
    MailError,
    PortalError,
    SessionMismatch,
    StepOutOfOrder,
)
from dpa.portal.flow import SigningPortal
from dpa.portal.invitations import Actor, change_email
from dpa.portal.mail import SmtpMailer
from dpa.register import Register
from tests.conftest import make_record
from tests.portal_support import (
    FixedClock,
    SmtpServer,
    attachments,
    browser,
    code_from,
    enter_agreement,
    local_portal_config,
    start_smtp,
    token_from,
)
from tests.signing_support import build_test_agreement, free_port

SALES = Actor("sales-anna", "sales")
LEGAL = Actor("legal-bram", "legal")
PDF = build_test_agreement()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.stop()


@pytest.fixture
def setup(dev_pki: DevPki, tmp_path: Path, smtp: SmtpServer) -> Iterator[tuple[SigningPortal, FixedClock, Config]]:
    config = local_portal_config(load_config(dev_pki.config_path), tmp_path, smtp.config())
    clock = FixedClock()
    with Register(config.paths.register) as register:
        for customer in ("C-1", "C-2"):
            enter_agreement(
                register, make_record(id=customer, email=f"{customer.lower()}@klant.example"), PDF, tmp_path
            )
        with SigningPortal(config, register, SmtpMailer(config.smtp), clock=clock) as portal:  # type: ignore[arg-type]
            yield portal, clock, config


def invite(portal: SigningPortal, smtp: SmtpServer, customer: str = "C-1") -> str:
    before = len(smtp.messages)
    made = portal.invite(customer, f"{customer.lower()}@klant.example", SALES)
    message = smtp.wait_for(before + 1)[-1]
    token = token_from(message)
    assert made.link.endswith(f"/s/{token}") and made.token == token
    return token


def request_code(portal: SigningPortal, smtp: SmtpServer, token: str, who: str = "s1") -> str:
    before = len(smtp.messages)
    portal.request_code(token, browser(who).client)
    return code_from(smtp.wait_for(before + 1)[-1])


def rows(config: Config, table: str) -> list[sqlite3.Row]:
    with Register(config.paths.register) as register:
        return register.query(f"SELECT * FROM {table} ORDER BY rowid")


def test_invitation_goes_only_to_the_record_address_with_the_agreement(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer
) -> None:
    portal, _clock, config = setup
    with pytest.raises(InvitationRefused, match="not the e-mail address in the customer's record"):
        portal.invite("C-1", "someone@else.example", SALES)
    with pytest.raises(InvitationRefused, match="no issued agreement"):
        portal.invite("C-404", "x@klant.example", SALES)
    before = len(smtp.messages)
    made = portal.invite("C-1", "  C-1@Klant.Example ", SALES)  # the same mailbox, however typed
    message = smtp.wait_for(before + 1)[-1]
    assert message["To"] == "c-1@klant.example" and smtp.handler.envelopes[-1][1] == ["c-1@klant.example"]
    assert attachments(message) == {"C-1.pdf": PDF}
    assert made.link.startswith(config.portal.base_url + "/s/")
    assert len(made.token) >= 43  # 32 random bytes, base64url: 256 bits
    (row,) = rows(config, "portal_invitations")
    assert row["token_sha256"] != made.token and made.token not in repr(made)
    events = [(e.kind, e.detail) for e in portal.register.events(row["agreement_id"])]
    assert events[-1][0] == "invited" and "c-1@klant.example" in (events[-1][1] or "")


def test_look_changes_nothing_and_first_interaction_is_recorded_once_per_session(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer
) -> None:
    portal, _clock, config = setup
    token = invite(portal, smtp)
    snapshot = (rows(config, "events"), rows(config, "portal_invitations"))
    for _ in range(3):  # a mail scanner prefetching the link
        view = portal.look(token)
    assert view.agreement.customer_id == "C-1" and view.issued_file.read_bytes() == PDF
    assert [dict(r) for r in rows(config, "events")] == [dict(r) for r in snapshot[0]]
    assert [dict(r) for r in rows(config, "portal_invitations")] == [dict(r) for r in snapshot[1]]

    first, second = browser("session-a", ip="198.51.100.7", user_agent="Firefox/140"), browser("session-b")
    portal.open(token, first.client)
    portal.open(token, first.client)
    portal.open(token, second.client)
    opened = [e for e in portal.register.events(view.agreement.id) if e.kind == "page-opened"]
    assert len(opened) == 2
    assert "198.51.100.7" in (opened[0].detail or "") and "Firefox/140" in (opened[0].detail or "")
    with pytest.raises(LinkNotFound):
        portal.look(token + "x")


def test_expired_and_replaced_links_are_gone(setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer) -> None:
    portal, clock, config = setup
    token = invite(portal, smtp)
    clock.advance(days=config.portal.link_days - 1)
    portal.look(token)
    clock.advance(days=1)
    with pytest.raises(LinkGone) as gone:
        portal.look(token)
    assert gone.value.reason == "expired" and gone.value.http_status == 410
    with pytest.raises(LinkGone):
        portal.request_code(token, browser("s").client)

    newer = invite(portal, smtp)
    old = invite(portal, smtp)  # the second one replaces `newer`
    with pytest.raises(LinkGone) as replaced:
        portal.look(newer)
    assert replaced.value.reason == "superseded"
    portal.look(old)


def test_five_wrong_codes_lock_the_link(setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer) -> None:
    portal, _clock, config = setup
    token = invite(portal, smtp)
    code = request_code(portal, smtp, token)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    client = browser("s1").client
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeRejected) as rejected:
            portal.verify_code(token, client, wrong if left % 2 else "abc")
        assert rejected.value.attempts_left == left
    with pytest.raises(LinkGone) as locked:
        portal.verify_code(token, client, wrong)
    assert locked.value.reason == "locked"
    for attempt in (lambda: portal.verify_code(token, client, code), lambda: portal.look(token)):
        with pytest.raises(LinkGone):
            attempt()
    kinds = [e.kind for e in portal.register.events(rows(config, "portal_invitations")[0]["agreement_id"])]
    assert kinds.count("code-wrong") == 5 and kinds[-1] == "link-locked"


def test_a_code_works_once_only_for_its_own_link_and_only_for_ten_minutes(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer
) -> None:
    portal, clock, _config = setup
    link_a, link_b = invite(portal, smtp, "C-1"), invite(portal, smtp, "C-2")
    code_a = request_code(portal, smtp, link_a)
    code_b = request_code(portal, smtp, link_b)
    while code_b == code_a:  # one in a million: the test is about the link, not about a collision
        code_b = request_code(portal, smtp, link_b)
    client = browser("s1").client
    with pytest.raises(CodeRejected):
        portal.verify_code(link_b, client, code_a)
    portal.verify_code(link_b, client, code_b)
    with pytest.raises(CodeRejected, match="request a code first"):
        portal.verify_code(link_b, client, code_b)  # used up

    clock.advance(minutes=10)
    with pytest.raises(CodeRejected, match="expired"):
        portal.verify_code(link_a, client, code_a)
    fresh = request_code(portal, smtp, link_a)
    portal.verify_code(link_a, client, fresh)


def test_steps_belong_to_the_session_that_confirmed_the_code(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer
) -> None:
    portal, _clock, _config = setup
    token = invite(portal, smtp)
    mine, other = browser("mine"), browser("other")
    with pytest.raises(StepOutOfOrder, match="confirm the one-time code first"):
        portal.challenge(token, mine.client)
    portal.verify_code(token, mine.client, request_code(portal, smtp, token, "mine"))
    with pytest.raises(SessionMismatch):
        portal.challenge(token, other.client)
    challenge = portal.challenge(token, mine.client)
    with pytest.raises(SessionMismatch):
        portal.request_certificate(
            token, other.client, public_key=other.spki, proof=other.sign(challenge), signatory_name="X", agreed=True
        )
    with pytest.raises(StepOutOfOrder, match="read the agreement"):
        portal.request_certificate(
            token, mine.client, public_key=mine.spki, proof=mine.sign(challenge), signatory_name="J. de Vries",
            agreed=False,
        )  # fmt: skip
    with pytest.raises(PortalError, match="signatory_name: required"):
        portal.request_certificate(
            token, mine.client, public_key=mine.spki, proof=mine.sign(challenge), signatory_name="\u00a0\u0301",
            agreed=True,
        )  # fmt: skip


def test_legal_changes_the_address_and_old_links_stop(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer
) -> None:
    portal, clock, _config = setup
    token = invite(portal, smtp)
    with pytest.raises(PortalError, match="only legal"):
        change_email(portal.register, "C-1", "nieuw@klant.example", SALES, clock())
    with pytest.raises(InvitationRefused, match="not a valid e-mail address"):
        change_email(portal.register, "C-1", "nieuw@\u202eklant.example", LEGAL, clock())
    (agreement,) = change_email(portal.register, "C-1", "nieuw@klant.example", LEGAL, clock())
    assert agreement.email == "nieuw@klant.example"
    changed = [e for e in portal.register.events(agreement.id) if e.kind == "email-changed"]
    assert (
        len(changed) == 1
        and "legal-bram" in (changed[0].detail or "")
        and "c-1@klant.example" in (changed[0].detail or "")
    )
    with pytest.raises(LinkGone):
        portal.look(token)
    with pytest.raises(InvitationRefused):
        portal.invite("C-1", "c-1@klant.example", SALES)
    portal.invite("C-1", "nieuw@klant.example", SALES)


def test_a_link_whose_mail_failed_cannot_be_used(dev_pki: DevPki, tmp_path: Path) -> None:
    config = local_portal_config(load_config(dev_pki.config_path), tmp_path, None)
    down = SmtpConfig(host="127.0.0.1", sender="dpa@ipcall.example", port=free_port(), starttls=False)
    with Register(config.paths.register) as register:
        agreement = enter_agreement(register, make_record(id="C-1", email="c-1@klant.example"), PDF, tmp_path)
        with (
            SigningPortal(config, register, SmtpMailer(down)) as portal,
            pytest.raises(MailError, match="cannot reach"),
        ):
            portal.invite("C-1", "c-1@klant.example", SALES)
        (row,) = register.query("SELECT status FROM portal_invitations")
        assert row["status"] == "superseded"
        assert [e.kind for e in register.events(agreement.id)][-2:] == ["invited", "invitation-superseded"]


def test_token_and_code_never_reach_a_log_an_error_or_the_register(
    setup: tuple[SigningPortal, FixedClock, Config], smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    portal, clock, config = setup
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    token = invite(portal, smtp)
    code = request_code(portal, smtp, token)
    client = browser("secret-session-id").client
    for attempt in (
        lambda: portal.verify_code(token, client, "000000" if code != "000000" else "111111"),
        lambda: portal.verify_code(token + "x", client, code),
    ):
        with pytest.raises(PortalError) as caught:
            attempt()
        messages.append(str(caught.value))
    portal.verify_code(token, client, code)
    clock.advance(days=60)
    with pytest.raises(LinkGone) as gone:
        portal.look(token)
    messages.append(str(gone.value))
    # every logger of this process, dpa, pyHanko and smtplib included; only the receiving mail server's own log
    # ("mail.log", aiosmtpd in this test) sees the mail, as a mail server must
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert any(r.name.startswith("dpa") or r.name == "mail.log" for r in caplog.records)
    stored = b"".join(p.read_bytes() for p in config.paths.register.parent.glob("register.sqlite3*"))
    for secret in (token, code, "secret-session-id"):
        assert secret not in logged and all(secret not in m for m in messages)
        assert secret.encode() not in stored
