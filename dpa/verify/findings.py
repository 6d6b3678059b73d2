"""What the rules learn while they run: findings (a broken rule with its ETSI sub-indication and sentence), the state
of one signature, and the per-document context the layers share.

The layers (:mod:`~dpa.verify.structure`, :mod:`~dpa.verify.changes`, :mod:`~dpa.verify.timing`,
:mod:`~dpa.verify.trust`) add findings typed with pyHanko's :class:`~pyhanko.sign.ades.report.AdESSubIndic`
(``AdESFailure.*`` fail, ``AdESIndeterminate.*`` leave the verdict open); :meth:`SigState.report` turns them into a
:class:`~dpa.verify.report.SignatureReport` with the standard's names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESStatus, AdESSubIndic

from dpa.verify.report import SEVERITY, Indication, SignatureReport, SubIndication


@dataclass(frozen=True)
class Finding:
    """One broken rule: its sub-indication (which fixes the indication) and the sentence for people."""

    subindic: AdESSubIndic
    sentence: str

    @property
    def indication(self) -> Indication:
        """TOTAL_FAILED for the standard's FAILED sub-indications, INDETERMINATE otherwise."""
        failed = self.subindic.status == AdESStatus.FAILED
        return Indication.TOTAL_FAILED if failed else Indication.INDETERMINATE

    @property
    def sub_indication(self) -> SubIndication:
        """The sub-indication by its ETSI name."""
        return SubIndication(str(self.subindic.standard_name))


def decisive_sub_indication(candidates: Iterable[tuple[str, str | None]], indication: str) -> SubIndication | None:
    """The sub-indication that explains ``indication``: the first of ``candidates`` (indication, sub-indication)
    with that indication, where TRY_LATER ("revocation not checked") yields to any other reason, because more
    revocation data cannot cure that one."""
    subs = [SubIndication(sub) for ind, sub in candidates if ind == indication and sub is not None]
    return next((sub for sub in subs if sub != SubIndication.TRY_LATER), subs[0] if subs else None)


@dataclass
class SigState:
    """What is learnt about one signature (or document timestamp) while the rules run."""

    field: str
    revision: int
    kind: str = "signature"
    role: str | None = None
    signer: str | None = None
    signer_cert: x509.Certificate | None = None
    certification: bool = False
    intact: bool = False
    claimed: dt.datetime | None = None
    timestamp: dt.datetime | None = None
    proof_of_existence: dt.datetime | None = None
    """A signature without a timestamp of its own, judged at the document timestamp that covers it."""
    accuracy: dt.timedelta | None = None
    coverage: str | None = None
    modification_level: str | None = None
    has_token: bool = False
    via_signing_ca: bool = False
    """The signer's path runs through the customer-signing CA (``[signing_ca] cert``)."""
    findings: list[Finding] = dataclasses.field(default_factory=list)

    def add(self, subindic: AdESSubIndic, sentence: str) -> None:
        """Record a broken rule."""
        self.findings.append(Finding(subindic, sentence))

    def has(self, *subindics: AdESSubIndic) -> bool:
        """Whether a finding with one of ``subindics`` was recorded."""
        return any(f.subindic in subindics for f in self.findings)

    @property
    def indication(self) -> Indication:
        """The worst indication of the findings so far."""
        worst = Indication.TOTAL_PASSED
        for finding in self.findings:
            if SEVERITY[finding.indication] > SEVERITY[worst]:
                worst = finding.indication
        return worst

    def report(self) -> SignatureReport:
        """The signature's report: its worst finding decides, every sentence is kept once."""
        indication = self.indication
        sub = decisive_sub_indication([(f.indication, f.sub_indication) for f in self.findings], indication)
        return SignatureReport(
            field=self.field,
            role=self.role,
            signer=self.signer,
            indication=indication,
            sub_indication=sub,
            timestamp=self.timestamp,
            proof_of_existence=self.proof_of_existence,
            claimed_signing_time=self.claimed,
            coverage=self.coverage,
            modification_level=self.modification_level,
            certification=self.certification,
            problems=tuple(dict.fromkeys(f.sentence for f in self.findings)),
            kind=self.kind,
        )


@dataclass(frozen=True)
class ChargedChange:
    """A change refused after an intact signature: charged to the revision that made it, not to the signature."""

    after: SigState
    revision: int
    """The revision (0-based) whose update made the change."""
    words: str


@dataclass
class DocumentContext:
    """Per-file context shared by the checks of its signatures."""

    data: bytes | bytearray
    reader: PdfFileReader
    now: dt.datetime
    made_by_dpa: bool
    allowed_fields: frozenset[str]
    dss_certs: list[x509.Certificate]
    crls: list[Any]
    ocsps: list[Any]
    pages: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    processor_certs: frozenset[bytes] = frozenset()
    new_signature_fields: set[str] = dataclasses.field(default_factory=set)
    """Signed fields of dpa's agreement that are not the prepared ones (named by the engine, not the policy)."""
    added_annotations: list[Any] = dataclasses.field(default_factory=list)
    """Markup annotations added after the first signature of dpa's agreement (:mod:`dpa.verify.annotations`)."""
    flattened_drawings: list[Any] = dataclasses.field(default_factory=list)
    """Drawings merged into page content after the first signature of dpa's agreement (:mod:`dpa.verify.flattened`)."""
    proofs: list[tuple[int, dt.datetime]] = dataclasses.field(default_factory=list)
    """(revision, genTime) of the trusted document timestamps, newest first, each validated at the one after it."""
    problems: list[Finding] = dataclasses.field(default_factory=list)
    charged: list[ChargedChange] = dataclasses.field(default_factory=list)
    """Changes after intact signatures; the engine turns them into document problems naming who made them."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """Sentences that explain the verdict without changing it (e.g. why there is no effective date)."""


__all__ = ["ChargedChange", "DocumentContext", "Finding", "SigState", "decisive_sub_indication"]
