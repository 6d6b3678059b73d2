"""The archiver that seals what ingest accepts: one definition for ``dpa ingest``, the web's ingest page and the
signing page (DESIGN.md §12: every accepted agreement becomes PAdES B-LTA before it is stored)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from dpa.archive.seal import Archiver
from dpa.config import Config
from dpa.register import Register
from dpa.signing.keys import SecretPrompt


def sealing_config(config: Config, trust: Sequence[Path] = (), trust_tsa: Sequence[Path] = ()) -> Config:
    """The configuration ingest's archiver uses: the verifier's roots plus ``trust``/``trust_tsa`` (``--trust``,
    ``--trust-tsa``) and the customer-signing CA (``[signing_ca] cert``), and lenient revocation.

    The customer-signing CA is among the roots because the seal must find the path of a signing-page certificate to
    fetch its CRL; the archiver only gathers validation data, what is trusted for which signature is the verifier's
    decision. Revocation data it cannot have (a customer's CA that publishes none) is a warning, not a refusal:
    verification decides what the file must carry, the seal adds what can be had.
    """
    signing_ca = (config.signing_ca.cert,) if config.signing_ca is not None else ()
    trusted = dataclasses.replace(
        config.trust,
        roots=(*config.trust.roots, *signing_ca, *trust),
        tsa_roots=(*config.trust.tsa_roots, *trust_tsa),
    )
    lenient = dataclasses.replace(config.signing, require_revocation_data=False)
    return dataclasses.replace(config, trust=trusted, signing=lenient)


def ingest_archiver(
    config: Config,
    *,
    extra_trust: Sequence[Path] = (),
    extra_tsa_trust: Sequence[Path] = (),
    tsa_urls: Sequence[str] = (),
    prompt: SecretPrompt | None = None,
    register: Register | None = None,
) -> Archiver:
    """An :class:`Archiver` over :func:`sealing_config`: it finds validation paths under the same roots as ingest's
    verifier."""
    return Archiver(
        sealing_config(config, extra_trust, extra_tsa_trust), tsa_urls=tsa_urls, prompt=prompt, register=register
    )


__all__ = ["ingest_archiver", "sealing_config"]
