"""A faster reader for PDF hex strings, with pyHanko's exact semantics (issue 15, "Read each file once").

pyHanko's ``read_hex_string_from_stream`` reads a hex string one byte at a time through Python calls. A signature's
/Contents is a hex string of 16 to 32 KB, and pyHanko's historical resolvers read each signature dictionary once
per later revision: in the profile of ``dpa verify`` over a folder that was 22 % of the time. :func:`read_hex_string`
finds the closing ``>`` with one search, checks every byte against the same alphabet (PDF white space and hex
digits) and decodes with :func:`binascii.unhexlify`, as pyHanko finally does too. Anything unusual (a ``%`` comment
inside the string) is handed to pyHanko's own reader, so the result, the stream position afterwards and the errors
are pyHanko's; ``tests/test_verify_unit.py`` compares both readers on valid and broken input.

:func:`install` puts it in place of pyHanko's (pinned to 0.38.x in ``pyproject.toml``); the verifier's engine calls
it once per process.
"""

from __future__ import annotations

import binascii
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

PYHANKO_READER = generic.read_hex_string_from_stream
"""pyHanko's own reader, kept for the cases it handles and for the equivalence tests."""
_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_HEX = generic.HEX_DIGITS
_CHUNK = 1 << 16


def read_hex_string(stream: Any) -> generic.ByteStringObject | generic.TextStringObject:
    """The hex string at ``stream``'s position (its ``<``), read as pyHanko's reader reads it, leaving the stream
    just after the closing ``>``."""
    start = stream.tell()
    stream.read(1)
    body = bytearray()
    while True:
        block = stream.read(_CHUNK)
        if not block:
            stream.seek(start)
            return PYHANKO_READER(stream)  # ends before its '>': pyHanko says how
        end = block.find(b">")
        if end < 0:
            body += block
            continue
        body += block[:end]
        break
    if b"%" in body:  # a comment inside the string: rare, and pyHanko's reader knows how it ends
        stream.seek(start)
        return PYHANKO_READER(stream)
    stream.seek(start + 1 + len(body) + 1)
    digits = bytes(body).translate(None, _WHITESPACE)
    stray = digits.translate(None, _HEX)
    if stray:
        raise PdfStreamError("Unexpected token in hex string: " + repr(stray[:1]))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def install() -> None:
    """Use :func:`read_hex_string` for every hex string pyHanko reads (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string


__all__ = ["PYHANKO_READER", "install", "read_hex_string"]
