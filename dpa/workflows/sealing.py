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


def ingest_archiver(
    config: Config,
    *,
    extra_trust: Sequence[Path] = (),
    extra_tsa_trust: Sequence[Path] = (),
    tsa_urls: Sequence[str] = (),
    prompt: SecretPrompt | None = None,
    register: Register | None = None,
) -> Archiver:
    """An :class:`Archiver` that finds validation paths under the same roots as ingest's verifier (``--trust``,
    ``--trust-tsa`` included).

    The customer-signing CA (``[signing_ca] cert``) is among its roots too: the seal must find the path of a
    signing-page certificate to fetch its CRL. The archiver only gathers validation data; what is trusted for
    which signature is the verifier's decision. Revocation data it cannot have (a customer's CA that publishes
    none) is a warning in the accepted line, not a refusal: verification decides what the file must carry, the
    seal adds what can be had.
    """
    signing_ca = (config.signing_ca.cert,) if config.signing_ca is not None else ()
    trusted = dataclasses.replace(
        config.trust,
        roots=(*config.trust.roots, *signing_ca, *extra_trust),
        tsa_roots=(*config.trust.tsa_roots, *extra_tsa_trust),
    )
    lenient = dataclasses.replace(config.signing, require_revocation_data=False)
    sealing = dataclasses.replace(config, trust=trusted, signing=lenient)
    return Archiver(sealing, tsa_urls=tsa_urls, prompt=prompt, register=register)


__all__ = ["ingest_archiver"]
