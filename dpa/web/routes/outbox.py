"""``/outbox`` (admins): the embedded outbox of the development set-up — the signing page's mails, kept under
``OUTPUT/outbox`` instead of being sent. Only with the development PKI and no ``[smtp]``; otherwise 404."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from dpa.accounts import User
from dpa.portal.mail import Outbox, list_outbox, read_message
from dpa.web.auth import PAGE_ROLES, page_user, runtime
from dpa.web.views import render

router = APIRouter()
MESSAGE_NAME = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}\.eml$")
"""The names :class:`dpa.portal.mail.Outbox` gives its files; nothing else is ever opened."""


def _outbox(request: Request) -> Outbox:
    outbox = runtime(request).outbox
    if outbox is None:
        raise HTTPException(404)
    return outbox


@router.get("/outbox", include_in_schema=False)
def outbox_page(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["outbox"]))]) -> Response:
    """The messages in the outbox, newest first."""
    messages = list(reversed(list_outbox(_outbox(request).folder)))
    return render(request, "outbox.html", messages=messages, message=None)


@router.get("/outbox/{name}", include_in_schema=False)
def outbox_message(
    request: Request, name: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["outbox"]))]
) -> Response:
    """One message's headers and plain text (the link and the code a developer needs to try the signing page)."""
    folder = _outbox(request).folder
    if not MESSAGE_NAME.match(name) or not (folder / name).is_file():
        raise HTTPException(404)
    message = read_message(folder / name)
    part = message.get_body(preferencelist=("plain",))
    text = str(part.get_content()) if part is not None else ""
    attached = [str(p.get_filename() or "") for p in message.iter_attachments()]
    messages = list(reversed(list_outbox(folder)))
    shown = {"name": name, "to": message["To"], "subject": message["Subject"], "date": message["Date"]}
    return render(request, "outbox.html", messages=messages, message=shown, text=text, attached=attached)
