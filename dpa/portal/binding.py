"""dpa's two private OIDs (agreement binding, evidence head), as the portal uses them.

They are defined in :mod:`dpa.verify.binding`, because the verifier checks them and may not import the portal
(the import contracts' layers); this module names them for the portal's code.
"""

from __future__ import annotations

from dpa.verify.binding import (
    AGREEMENT_BINDING_OID,
    DPA_OID_ARC,
    EVIDENCE_HEAD_OID,
    AgreementBinding,
    BindingError,
    binding_problem,
    evidence_head_attribute,
    read_binding,
    read_evidence_head,
)

__all__ = [
    "AGREEMENT_BINDING_OID",
    "DPA_OID_ARC",
    "EVIDENCE_HEAD_OID",
    "AgreementBinding",
    "BindingError",
    "binding_problem",
    "evidence_head_attribute",
    "read_binding",
    "read_evidence_head",
]
