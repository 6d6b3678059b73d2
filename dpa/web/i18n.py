"""The words of the pages: Dutch, and English with ``?lang=en`` (kept in a cookie from then on)."""

from __future__ import annotations

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

_WORDS: dict[str, tuple[str, str]] = {
    # key: (Dutch, English)
    "app": ("Verwerkersovereenkomsten", "Data processing agreements"),
    "login": ("Inloggen", "Log in"),
    "logout": ("Uitloggen", "Log out"),
    "username": ("Gebruikersnaam", "User name"),
    "password": ("Wachtwoord", "Password"),
    "agreements": ("Overeenkomsten", "Agreements"),
    "new_agreement": ("Nieuwe overeenkomst", "New agreement"),
    "verify": ("Controleren", "Verify"),
    "ingest": ("Retour innemen", "Ingest returns"),
    "batch": ("Batch", "Batch"),
    "users": ("Gebruikers", "Users"),
    "account": ("Wachtwoord wijzigen", "Change password"),
    "status": ("Status", "Status"),
    "all": ("alle", "all"),
    "search": ("Zoeken op id of naam", "Search by id or name"),
    "filter": ("Filteren", "Filter"),
    "customer_id": ("Klantnummer", "Customer id"),
    "name": ("Naam", "Name"),
    "issued_at": ("Uitgegeven", "Issued"),
    "effective_date": ("In werking sinds", "Effective since"),
    "days_open": ("Dagen open", "Days open"),
    "none_found": ("Geen overeenkomsten gevonden.", "No agreements found."),
    "status_issued": ("uitgegeven", "issued"),
    "status_effective": ("in werking", "effective"),
    "status_rejected": ("afgewezen", "rejected"),
    "status_ended": ("beëindigd", "ended"),
    "status_purged": ("verwijderd", "purged"),
    "field_id": ("Klantnummer (id)", "Customer id"),
    "field_name": ("Statutaire naam", "Legal name"),
    "field_kvk": ("KvK-nummer", "Chamber of Commerce number (KvK)"),
    "field_street": ("Straat en huisnummer", "Street and number"),
    "field_postcode": ("Postcode", "Postcode"),
    "field_city": ("Plaats", "City"),
    "field_country": ("Land (ISO-code)", "Country (ISO code)"),
    "field_email": ("E-mailadres", "E-mail address"),
    "field_signatory_name": ("Naam ondertekenaar", "Signatory's name"),
    "field_signatory_title": ("Functie ondertekenaar", "Signatory's title"),
    "field_contract_ref": ("Kenmerk dienstenovereenkomst", "Services agreement reference"),
    "field_language": ("Taal", "Language"),
    "contract": (
        "Dienstenovereenkomst (PDF/A, optioneel, komt vooraan)",
        "Services contract (PDF/A, optional, in front)",
    ),
    "issue": ("Uitgeven en ondertekenen", "Issue and sign"),
    "form_has_errors": ("Niet uitgegeven: verbeter de gemarkeerde velden.", "Not issued: correct the marked fields."),
    "download_issued": ("Download de uitgegeven overeenkomst", "Download the issued agreement"),
    "download_signed": ("Download de getekende overeenkomst", "Download the signed agreement"),
    "download_report": ("Download rapport (PDF)", "Download report (PDF)"),
    "history": ("Geschiedenis", "History"),
    "files": ("Bestanden", "Files"),
    "verification": ("Verificatie", "Verification"),
    "details": ("Gegevens", "Details"),
    "end_cooperation": ("Samenwerking beëindigen", "End the cooperation"),
    "end_on": ("Einddatum", "End date"),
    "end": ("Beëindigen", "End"),
    "purge": ("Gegevens verwijderen (bewaartermijn verstreken)", "Delete the data (retention period over)"),
    "purge_request": ("Verwijdering aanvragen", "Request deletion"),
    "purge_approve": ("Verwijdering goedkeuren", "Approve deletion"),
    "purge_waiting": (
        "Wacht op goedkeuring van een tweede jurist; aangevraagd door",
        "Waits for a second legal user's approval; requested by",
    ),
    "other_versions": ("Andere versies", "Other versions"),
    "verify_intro": (
        "Upload een of meer PDF's: per handtekening het oordeel, de redenen en de datum van inwerkingtreding.",
        "Upload one or more PDFs: per signature the verdict, the reasons and the effective date.",
    ),
    "files_to_verify": ("PDF-bestanden", "PDF files"),
    "check": ("Controleren", "Verify"),
    "ingest_intro": (
        "Upload door de klant getekende overeenkomsten: elk wordt aanvaard of geweigerd, met de reden.",
        "Upload agreements the customer signed: each is accepted or refused, with the reason.",
    ),
    "take_in": ("Innemen", "Ingest"),
    "accepted": ("aanvaard", "accepted"),
    "refused": ("geweigerd", "refused"),
    "batch_intro": (
        "Upload een CRM-export (CSV): eerst wordt elke rij gecontroleerd, daarna wordt per rij een overeenkomst "
        "uitgegeven. Eén batch tegelijk.",
        "Upload a CRM export (CSV): every row is checked first, then one agreement is issued per row. "
        "One batch at a time.",
    ),
    "csv_file": ("CSV-bestand", "CSV file"),
    "validate": ("Controleren", "Validate"),
    "rows": ("rijen", "rows"),
    "valid": ("geldig", "valid"),
    "invalid": ("ongeldig", "invalid"),
    "start_batch": ("Batch starten", "Start the batch"),
    "progress": ("Voortgang", "Progress"),
    "done": ("klaar", "done"),
    "failed": ("mislukt", "failed"),
    "skipped": ("al gedaan", "already done"),
    "download_manifest": ("Download manifest.csv", "Download manifest.csv"),
    "reload": ("Vernieuw de pagina voor de voortgang.", "Reload the page for the progress."),
    "running": ("loopt", "running"),
    "finished": ("afgerond", "finished"),
    "add_user": ("Gebruiker toevoegen", "Add a user"),
    "role": ("Rol", "Role"),
    "state": ("Toestand", "State"),
    "disable": ("Blokkeren", "Disable"),
    "new_token": ("Nieuw API-token", "New API token"),
    "revoke_token": ("Token intrekken", "Revoke token"),
    "shown_once": ("Wordt maar één keer getoond:", "Shown only once:"),
    "current_password": ("Huidig wachtwoord", "Current password"),
    "new_password": ("Nieuw wachtwoord", "New password"),
    "repeat_password": ("Herhaal nieuw wachtwoord", "Repeat the new password"),
    "save": ("Opslaan", "Save"),
    "must_change": ("Kies eerst een eigen wachtwoord.", "Choose a password of your own first."),
    "password_changed": ("Wachtwoord gewijzigd.", "Password changed."),
    "error": ("Fout", "Error"),
    "forbidden": (
        "Geen toegang: uw rol mag deze pagina niet gebruiken.",
        "Forbidden: your role may not use this page.",
    ),
    "not_found": ("Niet gevonden.", "Not found."),
    "too_large": ("Het bestand is te groot", "The file is too large"),
    "bad_csrf": (
        "Het formulier is verlopen of niet van deze site; laad de pagina opnieuw.",
        "The form has expired or is not from this site; reload the page.",
    ),
    "back": ("Terug", "Back"),
    "actions": ("Handelingen", "Actions"),
    "by": ("door", "by"),
    "dev_banner": (
        "Ontwikkelomgeving: ontwikkel-PKI, NIET VOOR PRODUCTIE",
        "Development set-up: development PKI, NOT FOR PRODUCTION",
    ),
}


def language(requested: str | None) -> str:
    """A supported language code for ``requested``, else the default (Dutch)."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def translator(lang: str) -> dict[str, str]:
    """Every word in ``lang``; a missing key shows as itself, so a gap is visible and never an error."""
    index = LANGUAGES.index(language(lang))
    return _Words({key: pair[index] for key, pair in _WORDS.items()})


class _Words(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return key
