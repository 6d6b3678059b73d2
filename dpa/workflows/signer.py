"""Is the controller's signer the customer? Their certificate compared with the register's record (DESIGN §6).

Any certificate under any trusted root can complete any agreement, so ingest compares what the certificate says
about its holder — the organisation (O) and the e-mail domain (subject or SubjectAltName) — with the customer's
legal name and e-mail domain. One match is enough; when neither matches, legal decides (``dpa ingest
--confirm-signer``). Everything here is pure: strings in, a verdict in words out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

LEGAL_FORMS = {
    "besloten vennootschap": "bv",
    "naamloze vennootschap": "nv",
    "vennootschap onder firma": "vof",
    "commanditaire vennootschap": "cv",
    "besloten vennootschap met beperkte aansprakelijkheid": "bvba",
}
"""Written-out Dutch legal forms and their abbreviation (the abbreviations themselves are unified by
:func:`company_key`: B.V., BV, b.v. and B. V. are the same)."""

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "live.nl",
        "hotmail.nl",
        "outlook.nl",
        "msn.com",
        "yahoo.com",
        "yahoo.nl",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.net",
        "web.de",
        "ziggo.nl",
        "kpnmail.nl",
        "planet.nl",
        "home.nl",
        "xs4all.nl",
        "telfort.nl",
        "hetnet.nl",
        "casema.nl",
        "upcmail.nl",
        "chello.nl",
        "quicknet.nl",
        "zeelandnet.nl",
        "online.nl",
        "tele2.nl",
    }
)
"""Domains where anyone can get an address: a shared domain there says nothing about who signed."""


@dataclass(frozen=True)
class SignerMatch:
    """The outcome of :func:`compare_signer`: whether the certificate names the customer, and why, in words."""

    matches: bool
    reason: str


def company_key(name: str) -> str:
    """A comparison key for a company name: Unicode-folded (NFKC, accents and case dropped), punctuation and
    spacing ignored, legal forms unified ("Café Noëlle B.V." and "CAFE NOELLE BV" share a key)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " en ").replace("+", " en ")
    words = re.sub(r"[^\w]+", " ", text.replace(".", ". ")).split()
    merged: list[str] = []
    letters = ""
    for word in words:  # a run of single letters is one abbreviation: "b v" (from "B. V.") becomes "bv"
        if len(word) == 1 and word.isalpha():
            letters += word
            continue
        merged.extend([letters, word] if letters else [word])
        letters = ""
    if letters:
        merged.append(letters)
    joined = " ".join(merged)
    for written, short in sorted(LEGAL_FORMS.items(), key=lambda item: -len(item[0])):  # longest first
        joined = re.sub(rf"\b{written}\b", short, joined)
    return joined


def email_domain(address: str) -> str | None:
    """The domain of an e-mail address, folded for comparison (case, IDNA); None when there is none."""
    _, at, domain = address.strip().rpartition("@")
    if not at or not domain:
        return None
    domain = domain.strip().rstrip(".").casefold()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def compare_signer(
    organization: str | None,
    certificate_emails: Sequence[str],
    legal_name: str | None,
    record_email: str | None,
) -> SignerMatch:
    """Compare a controller certificate's organisation and e-mail addresses with the customer's record.

    The organisation matches when its :func:`company_key` equals the legal name's. An e-mail domain matches when it
    is the record's domain or a subdomain of it, unless that domain is a public mail service.
    """
    org_key = company_key(organization) if organization else ""
    name_key = company_key(legal_name) if legal_name else ""
    if org_key and org_key == name_key:
        return SignerMatch(True, f"the certificate's organisation '{organization}' is the customer's legal name")
    wanted = email_domain(record_email) if record_email else None
    domains = sorted({d for d in (email_domain(e) for e in certificate_emails) if d})
    if wanted and wanted not in PUBLIC_MAIL_DOMAINS:
        for domain in domains:
            if domain == wanted or domain.endswith("." + wanted):
                return SignerMatch(True, f"the certificate's e-mail domain {domain} is the customer's ({wanted})")
    said = f"organisation '{organization}'" if organization else "no organisation"
    said += f" and e-mail domain(s) {', '.join(domains)}" if domains else " and no e-mail address"
    on_file = f"legal name '{legal_name or ''}'"
    if wanted in PUBLIC_MAIL_DOMAINS:
        on_file += f" and an e-mail address at the public mail service {wanted}, which proves nothing"
    elif wanted:
        on_file += f" and e-mail domain {wanted}"
    return SignerMatch(False, f"the controller's certificate names {said}; the register has {on_file}: neither matches")
