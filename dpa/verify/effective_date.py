"""Time for people and for the agreement: Europe/Amsterdam display, the effective date (art. 12.1), ``--at``.

Machines get UTC (ISO 8601); people get Europe/Amsterdam with its offset. The effective date is the calendar date
*in Amsterdam* of the latest trusted signature timestamp: a timestamp at 23:30 UTC on a winter evening (00:30 CET)
puts the agreement in force on the next calendar day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def effective_date(timestamps: Iterable[dt.datetime]) -> dt.date | None:
    """The Europe/Amsterdam calendar date of the latest of ``timestamps`` (aware datetimes); ``None`` if empty.

    Callers pass only the trusted signature timestamps of a TOTAL_PASSED, complete agreement (DESIGN.md §6).
    """
    latest: dt.datetime | None = None
    for stamp in timestamps:
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            raise ValueError(f"timestamp {stamp.isoformat()} has no time zone")
        if latest is None or stamp > latest:
            latest = stamp
    return None if latest is None else latest.astimezone(AMSTERDAM).date()


def to_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` (aware) in UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(dt.UTC)


def utc_iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix (``2026-11-30T23:30:00Z``; milliseconds only when present)."""
    if moment is None:
        return None
    utc = to_utc(moment)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_utc_iso(text: str | None) -> dt.datetime | None:
    """Inverse of :func:`utc_iso` (accepts any ISO 8601 with an offset or ``Z``)."""
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return to_utc(value)


def amsterdam_text(moment: dt.datetime) -> str:
    """``2026-12-01 00:30:00 CET (+01:00)``: how a time is shown to people."""
    local = moment.astimezone(AMSTERDAM)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({offset[:3]}:{offset[3:]})"


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_moment(text: str) -> dt.datetime:
    """Parse ``--at``: ``YYYY-MM-DD[THH:MM[:SS]][Z|±HH:MM]``; without an offset the time is Europe/Amsterdam.

    A bare date means the end of that day in Amsterdam (23:59:59), so ``--at 2026-06-01`` includes signatures made
    that day. Raises ValueError with a sentence a user can act on.
    """
    value = text.strip()
    if not _MOMENT.match(value):
        raise ValueError(
            f"'{text}' is not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], optionally with an offset "
            "such as Z or +01:00"
        )
    date_only = len(value) == 10
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a valid date or time ({exc})") from None
    if date_only:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=AMSTERDAM)
    return parsed.astimezone(dt.UTC)
