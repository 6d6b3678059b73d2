"""Proof of existence for a counter-signature without a timestamp (issue 12 §5, DESIGN.md §6 "Time", §12).

Acrobat signs without a timestamp by default: such a return verifies INDETERMINATE, because nothing trusted says
when it was signed. With ``[ingest] untimestamped = "prove-existence"`` (the default) ingest adds the archive
timestamp to a copy first and judges that copy: the document timestamp proves the signature existed at its genTime,
so the signer's certificate must be valid then, the signer's own clock may claim neither a later moment nor one
before the processor's timestamp, and the effective date is that moment's date in Amsterdam, "no later than".
Only an accepted copy is ever stored (by ingest); a refusal leaves nothing behind. ``"refuse"`` keeps the
INDETERMINATE verdict as the reason.
"""

from __future__ import annotations

from pathlib import Path

from dpa.archive.seal import Archiver
from dpa.config import Config
from dpa.errors import DpaError
from dpa.verify.report import INDETERMINATE, DocumentReport
from dpa.verify.verifier import Verifier
from dpa.workflows.sealing import sealing_config

PROVE_EXISTENCE = "prove-existence"

Sealed = tuple[bytes, DocumentReport, str | None]
"""The sealed copy, its verdict, and the archiver's warning (validation data it could not have)."""


def awaits_proof_of_existence(report: DocumentReport, config: Config) -> bool:
    """Whether ingest should timestamp this return before judging it: configured so, INDETERMINATE, and a signature
    without a timestamp of its own (PAdES B-B)."""
    return (
        config.ingest.untimestamped == PROVE_EXISTENCE
        and report.indication == INDETERMINATE
        and report.pades_level == "B-B"
    )


def prove_existence(archiver: Archiver | None, data: bytes, path: Path, verifier: Verifier) -> Sealed | str:
    """``data`` sealed (validation data and an archive timestamp) and verified at that proof of existence, or why
    it cannot be sealed. Without ``archiver`` one is made from the verifier's configuration and trust for this file.

    The returned verdict may still refuse the file (its sentences are the reason); nothing is written here.
    """
    if archiver is not None:
        return _sealed_and_verified(archiver, data, path, verifier)
    try:
        own = Archiver(sealing_config(verifier.config, verifier.extra_trust, verifier.extra_tsa_trust))
    except DpaError as exc:
        return f"{_NO_PROOF}: {exc}"
    with own:
        return _sealed_and_verified(own, data, path, verifier)


_NO_PROOF = "the counter-signature has no timestamp and no proof of existence could be added to it"


def _sealed_and_verified(archiver: Archiver, data: bytes, path: Path, verifier: Verifier) -> Sealed | str:
    try:
        appended = archiver.seal_bytes(data, path.name)
    except DpaError as exc:  # the seal validates every chain now: an expired or revoked certificate stops it
        why = str(exc).removesuffix("; nothing was signed")
        return f"{_NO_PROOF} (archive timestamp): {why}; nothing was stored"
    return appended.data, verifier.verify_bytes(appended.data, str(path)), appended.warning


__all__ = ["PROVE_EXISTENCE", "Sealed", "awaits_proof_of_existence", "prove_existence"]
