"""The comparison of a controller certificate with the customer's record (pure; issue 9, cause 12)."""

from __future__ import annotations

import pytest

from dpa.workflows.signer import company_key, compare_signer, email_domain


@pytest.mark.parametrize(
    ("organization", "legal_name"),
    [
        ("Voorbeeld Telecom B.V.", "Voorbeeld Telecom B.V."),
        ("VOORBEELD TELECOM BV", "Voorbeeld Telecom B.V."),
        ("voorbeeld telecom b.v.", "Voorbeeld Telecom B.V."),
        ("Voorbeeld Telecom B. V.", "Voorbeeld Telecom BV"),
        ("Voorbeeld  Telecom\u00a0B.V.", "Voorbeeld Telecom B.V."),
        ("Cafe Noelle BV", "Café Noëlle B.V."),
        ("Cafe\u0301 Noe\u0308lle B.V.", "Café Noëlle B.V."),  # decomposed accents
        ("ＡＣＭＥ Ｂ.Ｖ.", "Acme B.V."),  # full-width letters
        ("Jansen & Zn. B.V.", "Jansen en Zn B.V."),
        ("Dijkstra, Van Leeuwen & Partners B.V.", "Dijkstra Van Leeuwen & Partners B.V."),
        ("Acme Besloten Vennootschap", "Acme B.V."),
        ("Straße Consult N.V.", "STRASSE CONSULT NV"),
    ],
)
def test_the_same_company_written_differently_matches(organization: str, legal_name: str) -> None:
    match = compare_signer(organization, [], legal_name, "info@elders.example")
    assert match.matches, match.reason
    assert "organisation" in match.reason


@pytest.mark.parametrize(
    ("organization", "legal_name"),
    [
        ("Andere Partij B.V.", "Voorbeeld Telecom B.V."),
        ("Voorbeeld Telecom N.V.", "Voorbeeld Telecom B.V."),  # another legal entity
        ("Voorbeeld Telecom Holding B.V.", "Voorbeeld Telecom B.V."),
        ("Voorbeeld Telecom", "Voorbeeld Telecom B.V."),
        ("ipcall.me", "Voorbeeld Telecom B.V."),
        ("", "Voorbeeld Telecom B.V."),
        (None, "Voorbeeld Telecom B.V."),
    ],
)
def test_another_company_does_not_match(organization: str | None, legal_name: str) -> None:
    match = compare_signer(organization, [], legal_name, "info@voorbeeld.example")
    assert not match.matches
    assert "neither matches" in match.reason and "Voorbeeld Telecom B.V." in match.reason


def test_the_email_domain_matches_alone() -> None:
    for address in ("j.devries@voorbeeld.example", "J.DeVries@VOORBEELD.EXAMPLE", "jan@mail.voorbeeld.example"):
        match = compare_signer("Andere Partij B.V.", [address], "Voorbeeld Telecom B.V.", "info@voorbeeld.example")
        assert match.matches and "e-mail domain" in match.reason, (address, match.reason)


@pytest.mark.parametrize(
    "address",
    ["jan@voorbeeld.example.evil", "jan@notvoorbeeld.example", "jan@example", "voorbeeld.example", "jan@"],
)
def test_a_lookalike_domain_does_not_match(address: str) -> None:
    assert not compare_signer(None, [address], "Voorbeeld Telecom B.V.", "info@voorbeeld.example").matches


def test_a_public_mail_service_proves_nothing() -> None:
    match = compare_signer(None, ["iemand@gmail.com"], "Eenmanszaak Jansen", "jansen@gmail.com")
    assert not match.matches and "public mail service gmail.com" in match.reason


def test_internationalised_domains_compare_folded() -> None:
    assert email_domain("info@Bücher.example") == email_domain("x@xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert compare_signer(None, ["a@BÜCHER.example"], "X", "info@bücher.example").matches


def test_the_reason_names_both_sides() -> None:
    match = compare_signer(
        "Andere Partij B.V.", ["jan@andere.example"], "Voorbeeld Telecom B.V.", "i@voorbeeld.example"
    )
    assert match.reason == (
        "the controller's certificate names organisation 'Andere Partij B.V.' and e-mail domain(s) andere.example; "
        "the register has legal name 'Voorbeeld Telecom B.V.' and e-mail domain voorbeeld.example: neither matches"
    )


def test_company_key_is_stable() -> None:
    assert company_key("Acme B.V.") == company_key("acme bv") == "acme bv"
    assert company_key("Acme B.V.B.A.") == company_key("Acme Besloten Vennootschap met Beperkte Aansprakelijkheid")
