"""Interrupted signing on its own, quickly (a small PDF dpa did not assemble, certified with the real `dpa tsa
serve`): a finish that fails (TSA down, in another server process over the same register) keeps the prepared
signature for another try, a finished one cannot be
finished twice, and a file ingest refuses leaves the link open with the refusal in the evidence."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.errors import TimestampError
from dpa.portal.errors import StepOutOfOrder
from dpa.portal.flow import SigningPortal
from dpa.portal.invitations import Actor
from dpa.portal.mail import Outbox, list_outbox, read_message
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.signing.timestamps import timestamper_from_config
from tests.conftest import make_record
from tests.portal_support import CrlServer, browser, code_from, enter_agreement, local_portal_config
from tests.signing_support import assert_signed_ok, build_test_agreement, free_port


def test_a_failed_finish_keeps_the_prepared_signature(signing_config: Config, dev_pki: DevPki, tmp_path: Path) -> None:
    crl_server = CrlServer()  # the customer-signing CA's CRL, as dpa serve publishes it
    config = local_portal_config(signing_config, tmp_path, None, base_url=crl_server.base_url)
    with SigningSession(config) as session:
        certified, _ = session.sign_bytes(build_test_agreement(), "processor")
    outbox = Outbox(tmp_path / "outbox")
    with (
        Register(config.paths.register) as register,
        SigningPortal(config, register, outbox) as portal,
        contextlib.closing(crl_server),
    ):
        crl_server.portal = portal
        agreement = enter_agreement(register, make_record(id="C-5", email="c5@klant.example"), certified, tmp_path)
        token = portal.invite("C-5", "c5@klant.example", Actor("sales-anna", "sales")).token
        signer = browser("s")
        portal.request_code(token, signer.client)
        portal.verify_code(token, signer.client, code_from(read_message(list_outbox(outbox.folder)[-1].path)))
        challenge = portal.challenge(token, signer.client)
        portal.request_certificate(
            token, signer.client, public_key=signer.spki, proof=signer.sign(challenge), signatory_name="K. Klant",
            agreed=True,
        )  # fmt: skip
        to_sign = portal.prepare_signature(token, signer.client)

        down = timestamper_from_config(config, [f"http://127.0.0.1:{free_port()}/"])  # the TSA is down
        with (
            SigningPortal(config, register, outbox, timestamper=down) as server_without_tsa,
            contextlib.closing(down),
            pytest.raises(TimestampError),
        ):
            server_without_tsa.finish_signature(token, signer.client, signer.sign(to_sign))
        outcome = portal.finish_signature(token, signer.client, signer.sign(to_sign))  # the same preparation
        with pytest.raises(StepOutOfOrder, match="no signature has been prepared"):
            portal.finish_signature(token, signer.client, signer.sign(to_sign))

        assert not outcome.accepted and "not an agreement made by dpa" in outcome.reason  # ingest's own refusal
        kinds = [e.kind for e in register.events(agreement.id)]
        assert kinds.count("signed") == 1 and kinds[-1] == "signature-refused"
        portal.look(token)  # the link stays open for another try
        returned = tmp_path / "portal" / "C-5.1.pdf"  # customer id and invitation id
        assert returned.read_bytes().startswith(certified)
        assert_signed_ok(
            returned,
            [dev_pki.ca_path, dev_pki.directory / "signing-ca.pem"],
            ["processor_signature", "controller_signature"],
        )
