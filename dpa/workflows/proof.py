"""Seal first, then judge: returns whose verdict depends on what only an archive update can add (issue 12 §1, §5;
DESIGN.md §6 "Time" and "Offline", §12).

* **A counter-signature without a timestamp.** Acrobat signs without one by default: such a return verifies
  INDETERMINATE, because nothing trusted says when it was signed. With ``[ingest] untimestamped =
  "prove-existence"`` (the default) ingest adds the archive timestamp to a copy first and judges that copy: the
  document timestamp proves the signature existed at its genTime, so the signer's certificate must be valid then,
  the signer's own clock may claim neither a later moment nor one before the processor's timestamp, and the
  effective date is that moment's date in Amsterdam, "no later than". ``"refuse"`` keeps the INDETERMINATE verdict
  as the reason.
* **A certificate whose revocation status the file does not carry** (INDETERMINATE/TRY_LATER: tools other than dpa
  rarely embed CRLs or OCSP responses). The seal fetches what is missing from the certificates' own addresses and
  puts it in the DSS under the archive timestamp; the copy is judged with it. When the status still cannot be had
  (the CA's service is down), the copy stays TRY_LATER and the return is refused with that reason.

Only an accepted copy is ever stored (by ingest); a refusal leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

from dpa.archive.seal import Archiver
from dpa.config import Config
from dpa.errors import DpaError
from dpa.verify.report import INDETERMINATE, DocumentReport, SubIndication
from dpa.verify.verifier import Verifier
from dpa.workflows.sealing import sealing_config

PROVE_EXISTENCE = "prove-existence"

Sealed = tuple[bytes, DocumentReport, str | None]
"""The sealed copy, its verdict, and the archiver's warning (validation data it could not have)."""


def awaits_sealing(report: DocumentReport, config: Config) -> str | None:
    """Why ingest should seal a copy of this return before judging it, or ``None`` when the verdict stands as it is.

    Only an INDETERMINATE return qualifies: a signature without a timestamp of its own (PAdES B-B) when
    ``[ingest] untimestamped = "prove-existence"``, or one whose revocation status the file does not establish
    (TRY_LATER). A B-B return under ``"refuse"`` is never sealed first, whatever else it lacks.
    """
    if report.indication != INDETERMINATE:
        return None
    if report.pades_level == "B-B":
        return NO_PROOF if config.ingest.untimestamped == PROVE_EXISTENCE else None
    if any(sig.sub_indication == SubIndication.TRY_LATER for sig in report.signatures):
        return NO_REVOCATION_DATA
    return None


def prove_existence(
    archiver: Archiver | None, data: bytes, path: Path, verifier: Verifier, why: str = ""
) -> Sealed | str:
    """``data`` sealed (validation data and an archive timestamp) and verified with what the seal added, or why it
    cannot be sealed (``why``, from :func:`awaits_sealing`, begins the sentence). Without ``archiver`` one is made
    from the verifier's configuration and trust for this file.

    The returned verdict may still refuse the file (its sentences are the reason); nothing is written here.
    """
    why = why or NO_PROOF
    if archiver is not None:
        return _sealed_and_verified(archiver, data, path, verifier, why)
    try:
        own = Archiver(sealing_config(verifier.config, verifier.extra_trust, verifier.extra_tsa_trust))
    except DpaError as exc:
        return f"{why}: {exc}"
    with own:
        return _sealed_and_verified(own, data, path, verifier, why)


NO_PROOF = "the counter-signature has no timestamp and no proof of existence could be added to it"
NO_REVOCATION_DATA = (
    "the file does not carry the revocation status of a signer's certificate, and it could not be added to it"
)


def _sealed_and_verified(archiver: Archiver, data: bytes, path: Path, verifier: Verifier, why: str) -> Sealed | str:
    try:
        appended = archiver.seal_bytes(data, path.name)
    except DpaError as exc:  # the seal validates every chain now: an expired or revoked certificate stops it
        reason = str(exc).removesuffix("; nothing was signed")
        return f"{why} (archive timestamp): {reason}; nothing was stored"
    return appended.data, verifier.verify_bytes(appended.data, str(path)), appended.warning


__all__ = ["NO_PROOF", "NO_REVOCATION_DATA", "PROVE_EXISTENCE", "Sealed", "awaits_sealing", "prove_existence"]
