"""RFC 3161 pieces shared by the time-stamp client and the embedded TSA."""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import cms, core, tsp

CONTENT_TYPE_QUERY = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"


class TimeStampResponse(core.Sequence):  # type: ignore[misc]
    """``TimeStampResp`` with ``timeStampToken`` OPTIONAL, as RFC 3161 §2.4.2 has it.

    asn1crypto's :class:`asn1crypto.tsp.TimeStampResp` makes the token mandatory, so it can neither write nor read
    the rejections a TSA sends.
    """

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]
