"""The words of the signing page's mails (Dutch first, English below), built as :class:`EmailMessage` objects.

Customer data goes only into headers through :mod:`email`'s own encoding (which refuses line breaks) and into the
plain-text body; nothing is HTML.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from dpa.register import Agreement
from dpa.verify.report import PROOF_OF_EXISTENCE

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LINE = 76
"""The width mail text is wrapped at (after the customer's name is filled in, so lines stay even)."""


def plain_text(*paragraphs: str) -> str:
    """Paragraphs separated by blank lines, each wrapped at :data:`LINE`; words (a link) are never broken."""
    wrapped = (textwrap.fill(p, LINE, break_long_words=False, break_on_hyphens=False) for p in paragraphs)
    return "\n\n".join(wrapped) + "\n"


def invitation_message(
    to: str, link: str, agreement: Agreement, expires_at: dt.datetime, issued_pdf: bytes, processor: str
) -> EmailMessage:
    """The invitation: the signing link, until when it works, and the issued agreement attached."""
    until = expires_at.astimezone(AMSTERDAM).strftime("%d-%m-%Y")
    customer = agreement.name or agreement.customer_id
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Verwerkersovereenkomst {processor} – ondertekenen / please sign ({customer})"
    message.set_content(
        plain_text(
            f"Beste {agreement.signatory_name or 'heer/mevrouw'},",
            f"{processor} vraagt u de verwerkersovereenkomst met {customer} te ondertekenen. De overeenkomst zit als "
            f"PDF in de bijlage. Onderteken haar in uw browser via deze persoonlijke link (geldig tot en met {until}):",
            link,
            "Op de pagina vraagt u een eenmalige code aan; die sturen wij naar dit e-mailadres. Uw browser maakt "
            "daarna een sleutel die uw computer niet verlaat, en u ondertekent met een certificaat op uw naam.",
            "Wilt u liever met uw eigen certificaat ondertekenen (bijvoorbeeld in Adobe Acrobat)? Onderteken dan het "
            'veld "Handtekening Verwerkingsverantwoordelijke" in de bijlage en stuur het bestand terug.',
            "--",
            f"{processor} asks you to sign the data processing agreement with {customer}; the PDF is attached. Sign "
            f"it in your browser through this personal link (valid until {until} inclusive):",
            link,
            "On the page you request a one-time code, sent to this address. Your browser then makes a key that never "
            "leaves your computer, and you sign with a certificate in your name.",
        )
    )
    message.add_attachment(issued_pdf, maintype="application", subtype="pdf", filename=f"{agreement.customer_id}.pdf")
    return message


def code_message(to: str, code: str, minutes: int, processor: str) -> EmailMessage:
    """The one-time code (valid ``minutes``)."""
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Uw code voor het ondertekenen / your signing code – {processor}"
    message.set_content(
        f"""Uw eenmalige code: {code}

De code is {minutes} minuten geldig. Voer haar in op de ondertekeningspagina. Hebt u geen code aangevraagd,
negeer dan dit bericht.

Your one-time code: {code} (valid {minutes} minutes). If you did not ask for a code, ignore this message.
"""
    )
    return message


def _in_force(effective: dt.date, basis: str | None) -> tuple[str, str]:
    """ "van kracht vanaf DATE" / "in force from DATE", or "uiterlijk op"/"no later than" for a date that rests on a
    proof of existence (DESIGN.md §5 ``effective_date_basis``)."""
    day = effective.strftime("%d-%m-%Y")
    if basis == PROOF_OF_EXISTENCE:
        return f"uiterlijk op {day} van kracht geworden", f"in force no later than {day}"
    return f"van kracht vanaf {day}", f"in force from {day}"


def signed_copy_message(
    to: str, agreement: Agreement, effective: dt.date, signed_pdf: bytes, basis: str | None = None
) -> EmailMessage:
    """The signed agreement for the signer, with the date from which it is in force (``basis``: what it rests on)."""
    dutch, english = _in_force(effective, basis)
    customer = agreement.name or agreement.customer_id
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Ondertekende verwerkersovereenkomst / signed agreement ({customer})"
    message.set_content(
        f"""Dank u voor het ondertekenen. De verwerkersovereenkomst met {customer} is {dutch}. De door
beide partijen ondertekende overeenkomst zit als PDF in de bijlage; bewaar haar bij uw administratie.

Thank you for signing. The data processing agreement with {customer} is {english}. The agreement signed
by both parties is attached.
"""
    )
    message.add_attachment(
        signed_pdf, maintype="application", subtype="pdf", filename=f"{agreement.customer_id}.signed.pdf"
    )
    return message


def inviter_notice_message(
    to: str, agreement: Agreement, effective: dt.date, page: str, basis: str | None = None
) -> EmailMessage:
    """For the user who sent the signing link: the customer signed, the agreement is in force, where to see it."""
    dutch, english = _in_force(effective, basis)
    customer = agreement.name or agreement.customer_id
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Getekend / signed: {customer} ({agreement.customer_id})"
    message.set_content(
        f"""{customer} ({agreement.customer_id}) heeft de verwerkersovereenkomst ondertekend op de
ondertekeningspagina. Zij is {dutch}. Gegevens, bewijs en het getekende bestand:

{page}

{customer} ({agreement.customer_id}) signed the data processing agreement on the signing page; it is {english}.
Details, evidence and the signed file: {page}
"""
    )
    return message
