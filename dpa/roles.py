"""The two parties of the agreement, defined once: role → signature field, anchor text and labels.

ipcall.me is the *Verwerker* (processor) and certifies first; the customer is the *Verwerkingsverantwoordelijke*
(controller) and counter-signs. Every module that needs a role's field name, its anchor on the signature page or
its label takes it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["processor", "controller"]


@dataclass(frozen=True)
class Party:
    """One party: its role, its pre-created signature field and the words used for it."""

    role: Role
    field: str
    anchor: str
    """The line printed directly above this party's empty signature box on the signature page."""
    label: str
    """The report's label: Dutch term with the English one in brackets."""
    stamp: str
    """The line in the visible signature appearance."""


PROCESSOR = Party(
    role="processor",
    field="processor_signature",
    anchor="Handtekening Verwerker",
    label="Verwerker (processor)",
    stamp="Namens Verwerker",
)
CONTROLLER = Party(
    role="controller",
    field="controller_signature",
    anchor="Handtekening Verwerkingsverantwoordelijke",
    label="Verwerkingsverantwoordelijke (controller)",
    stamp="Namens Verwerkingsverantwoordelijke",
)

PARTIES: tuple[Party, ...] = (PROCESSOR, CONTROLLER)
ROLES: tuple[Role, ...] = tuple(p.role for p in PARTIES)
BY_ROLE: dict[str, Party] = {p.role: p for p in PARTIES}
BY_FIELD: dict[str, Party] = {p.field: p for p in PARTIES}
FIELDS: tuple[str, ...] = tuple(p.field for p in PARTIES)


def party(role: str) -> Party:
    """The party for ``role``; ``ValueError`` for anything but ``processor`` or ``controller``."""
    try:
        return BY_ROLE[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r} (expected processor or controller)") from None
