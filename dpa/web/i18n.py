"""The words of the pages: Dutch, and English with ``?lang=en`` (kept in a cookie from then on)."""

from __future__ import annotations

from datetime import date

from dpa.verify.report import PROOF_OF_EXISTENCE

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
    # --- the customer's signing page (/s/{token}) ---
    "sign_title": ("Verwerkersovereenkomst ondertekenen", "Sign the data processing agreement"),
    "sign_intro": (
        "{processor} vraagt u de verwerkersovereenkomst met {customer} te ondertekenen.",
        "{processor} asks you to sign the data processing agreement with {customer}.",
    ),
    "link_valid_until": ("Deze persoonlijke link werkt tot en met {date}.", "This personal link works until {date}."),
    "parties": ("Partijen", "Parties"),
    "processor": ("Verwerker", "Processor"),
    "controller": ("Verwerkingsverantwoordelijke", "Controller"),
    "kvk": ("KvK", "Chamber of Commerce"),
    "the_agreement": ("De overeenkomst", "The agreement"),
    "page_n": ("Pagina {n}", "Page {n}"),
    "download_agreement": ("Download de overeenkomst (PDF)", "Download the agreement (PDF)"),
    "your_details": ("Ondertekenen", "Signing"),
    "agree_label": (
        "Ik heb de overeenkomst gelezen en ben bevoegd haar namens {customer} te ondertekenen",
        "I have read the agreement and I am authorised to sign it for {customer}",
    ),
    "request_code": ("Code aanvragen", "Request a code"),
    "request_new_code": ("Nieuwe code aanvragen", "Request a new code"),
    "code_explained": (
        "We sturen een code van 6 cijfers naar {email}; daarmee bevestigt u dat u dit e-mailadres beheert.",
        "We send a 6-digit code to {email}; with it you confirm that this e-mail address is yours.",
    ),
    "code_sent": (
        "We hebben een code van 6 cijfers gestuurd naar {email}. Zij is 10 minuten geldig.",
        "We have sent a 6-digit code to {email}. It is valid for 10 minutes.",
    ),
    "code": ("Eenmalige code", "One-time code"),
    "sign": ("Ondertekenen", "Sign"),
    "how_it_works": (
        "Bij het ondertekenen maakt uw browser een sleutel die uw computer nooit verlaat. {processor} geeft er een "
        "certificaat op uw naam voor uit, één uur geldig en alleen voor deze overeenkomst, en voegt een "
        "tijdstempel toe.",
        "When you sign, your browser makes a key that never leaves your computer. {processor} issues a certificate "
        "in your name for it, valid for an hour and for this agreement only, and adds a timestamp.",
    ),
    "needs_js": (
        "Ondertekenen in de browser heeft JavaScript nodig. U kunt de overeenkomst ook downloaden, met uw eigen "
        "certificaat ondertekenen en hieronder uploaden.",
        "Signing in the browser needs JavaScript. You can also download the agreement, sign it with your own "
        "certificate and upload it below.",
    ),
    "step_confirm": ("Code controleren…", "Checking the code…"),
    "step_key": ("Sleutel maken in uw browser…", "Making a key in your browser…"),
    "step_certificate": ("Certificaat aanvragen…", "Requesting the certificate…"),
    "step_prepare": ("Handtekening voorbereiden…", "Preparing the signature…"),
    "step_sign": ("Ondertekenen…", "Signing…"),
    "step_finish": ("Tijdstempel en controle…", "Timestamp and verification…"),
    "no_webcrypto": (
        "Deze browser kan geen sleutel maken (WebCrypto ontbreekt); gebruik een actuele browser.",
        "This browser cannot make a key (no WebCrypto); use a current browser.",
    ),
    "network_error": ("Geen verbinding met de server; probeer het opnieuw.", "No connection to the server; try again."),
    "signed_title": ("Ondertekend", "Signed"),
    "in_force_from": ("De overeenkomst is in werking vanaf {date}.", "The agreement is in force from {date}."),
    "in_force_no_later_than": (
        "De overeenkomst is uiterlijk op {date} in werking getreden.",
        "The agreement came into force no later than {date}.",
    ),
    "no_later_than": ("uiterlijk {date}", "no later than {date}"),
    "copy_mailed": (
        "Een kopie van de door beide partijen ondertekende overeenkomst is gemaild naar {email}.",
        "A copy of the agreement signed by both parties has been mailed to {email}.",
    ),
    "upload_title": ("Liever met uw eigen certificaat?", "Rather with your own certificate?"),
    "upload_intro": (
        "Onderteken de PDF (bijvoorbeeld in Adobe Acrobat) in het veld ‘Handtekening Verwerkingsverantwoordelijke’, "
        "met een tijdstempel, sla hem op en upload het bestand ongewijzigd.",
        "Sign the PDF (for example in Adobe Acrobat) in the field ‘Handtekening Verwerkingsverantwoordelijke’, with "
        "a timestamp, save it and upload the file unchanged.",
    ),
    "signed_file": ("Ondertekend PDF-bestand", "Signed PDF file"),
    "upload": ("Uploaden", "Upload"),
    "not_accepted": ("Niet aanvaard:", "Not accepted:"),
    "gone_title": ("Deze link werkt niet meer", "This link no longer works"),
    "gone_used": (
        "Deze ondertekeningslink is al gebruikt: de overeenkomst is ondertekend.",
        "This signing link has been used: the agreement is signed.",
    ),
    "gone_expired": (
        "Deze ondertekeningslink is verlopen. Vraag {processor} om een nieuwe link.",
        "This signing link has expired. Ask {processor} for a new link.",
    ),
    "gone_locked": (
        "Deze ondertekeningslink is geblokkeerd na 5 verkeerde codes. Vraag {processor} om een nieuwe link.",
        "This signing link is locked after 5 wrong codes. Ask {processor} for a new link.",
    ),
    "gone_superseded": (
        "Deze link is vervangen door een nieuwere: gebruik de link in de laatste e-mail.",
        "This link was replaced by a newer one: use the link in the latest e-mail.",
    ),
    "gone_withdrawn": (
        "Deze overeenkomst kan hier niet meer worden ondertekend.",
        "This agreement can no longer be signed here.",
    ),
    "link_not_found": (
        "Deze ondertekeningslink bestaat niet; controleer het adres in de e-mail.",
        "This signing link does not exist; check the address in the e-mail.",
    ),
    "err_CodeRejected": (
        "De code klopt niet of is verlopen; nog {left} poging(en) voordat de link wordt geblokkeerd.",
        "",
    ),
    "err_TooManyCodes": ("Voor deze link zijn te veel codes aangevraagd; vraag om een nieuwe link.", ""),
    "err_SessionMismatch": (
        "Deze stap hoort bij een andere browsersessie; vraag in deze browser een nieuwe code aan.",
        "",
    ),
    "err_StepOutOfOrder": ("Deze stap kan nu nog niet; vraag een code aan en begin opnieuw.", ""),
    "err_CertificateRequestRefused": ("Uw browser kon geen geldige sleutel aanbieden; probeer het opnieuw.", ""),
    "err_SignatureRefused": ("De handtekening van uw browser werd niet aanvaard; probeer het opnieuw.", ""),
    "err_MailError": ("De e-mail kon niet worden verstuurd; probeer het later opnieuw.", ""),
    "err_agree": ("Vink aan dat u de overeenkomst hebt gelezen en haar mag ondertekenen.", ""),
    "err_signatory_name": ("Vul uw naam in (zonder stuurtekens).", ""),
    "err_signatory_title": ("Controleer uw functie (zonder stuurtekens).", ""),
    # --- sales and admins: the invitation, the outbox ---
    "signing_link": ("Ondertekeningslink", "Signing link"),
    "invite": ("Klant uitnodigen om te ondertekenen", "Invite the customer to sign"),
    "invite_again": ("Nieuwe link sturen", "Send a new link"),
    "invite_to": ("Gaat naar {email}, het adres in het klantrecord.", "Goes to {email}, the address in the record."),
    "invitation_line": (
        "{status}: aan {email}, door {by}, {at}; geldig tot {until}",
        "{status}: to {email}, by {by}, {at}; valid until {until}",
    ),
    "inv_open": ("open", "open"),
    "inv_used": ("gebruikt", "used"),
    "inv_locked": ("geblokkeerd", "locked"),
    "inv_superseded": ("vervangen", "replaced"),
    "opened_at": ("geopend {at}", "opened {at}"),
    "evidence": ("Bewijs van de ondertekeningspagina", "Signing page evidence"),
    "identified_by": ("Ondertekenaar geïdentificeerd door: {how}", "Signer identified by: {how}"),
    "chain_intact": ("Hashketen intact; nieuwste hash {hash}", "Hash chain intact; newest hash {hash}"),
    "chain_broken": ("HASHKETEN GEBROKEN", "HASH CHAIN BROKEN"),
    "signed_head": ("Hash in de handtekening van de klant: {hash}", "Hash in the customer's signature: {hash}"),
    "outbox": ("Postvak uit", "Outbox"),
    "outbox_intro": (
        "Ontwikkelomgeving zonder [smtp]: berichten worden hier bewaard in plaats van verstuurd.",
        "Development set-up without [smtp]: messages are kept here instead of being sent.",
    ),
    "outbox_empty": ("Geen berichten.", "No messages."),
    "to": ("Aan", "To"),
    "subject": ("Onderwerp", "Subject"),
    "date": ("Datum", "Date"),
    "dev_banner": (
        "Ontwikkelomgeving: ontwikkel-PKI, NIET VOOR PRODUCTIE",
        "Development set-up: development PKI, NOT FOR PRODUCTION",
    ),
}


MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}  # fmt: skip


def in_force_key(basis: str | None) -> str:
    """The sentence for an agreement in force: from a date (a timestamp), or no later than it (a proof of
    existence)."""
    return "in_force_no_later_than" if basis == PROOF_OF_EXISTENCE else "in_force_from"


def long_date(day: date, lang: str) -> str:
    """``day`` written out: "2 maart 2026" / "2 March 2026"."""
    return f"{day.day} {MONTHS[language(lang)][day.month - 1]} {day.year}"


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
