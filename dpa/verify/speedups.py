"""Faster equivalents of two library internals that dominate verify's profile (issue 15), with their exact results.

**Hex strings.** pyHanko's ``read_hex_string_from_stream`` reads a hex string one byte at a time through Python
calls. A signature's /Contents is a hex string of 16 to 32 KB, and pyHanko's historical resolvers read each
signature dictionary once per later revision: in the profile of ``dpa verify`` over a folder that was 22 % of the
time. :func:`read_hex_string` finds the closing ``>`` with one search, checks every byte against the same alphabet
(PDF white space and hex digits) and decodes with :func:`binascii.unhexlify`, as pyHanko finally does too. Anything
unusual (a ``%`` comment inside the string, no closing ``>``, a stray byte) is handed to pyHanko's own reader, so
the result, the stream position afterwards and the errors are pyHanko's; ``tests/test_verify_unit.py`` compares
both readers.

**Name preparation.** asn1crypto compares and indexes X.509 names through RFC 4518 string preparation
(``NameTypeAndValue._ldap_string_prep``: regular expressions, stringprep tables, NFKC), computed again for every
certificate object, and each file brings its own objects for the same processor, TSA and CA certificates: 21 % of
the profile once hex strings were fast. :func:`prepared` is that function memoised by its input string (it reads
nothing else; bounded in entries and length; an input it refuses raises again every time). Names are no
verdict: nothing about one file can reach another through it.

:func:`install` puts both in place (pyHanko pinned to 0.38.x, asn1crypto 1.5.x, in ``pyproject.toml``); the
verifier's engine calls it once per process.
"""

from __future__ import annotations

import binascii
import functools
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils import generic

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
    digits = bytes(body).translate(None, _WHITESPACE)
    if digits.translate(None, _HEX):  # a stray byte: pyHanko's reader raises its error where it stops
        stream.seek(start)
        return PYHANKO_READER(stream)
    stream.seek(start + 1 + len(body) + 1)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


ASN1CRYPTO_PREP = x509.NameTypeAndValue._ldap_string_prep
"""asn1crypto's own RFC 4518 preparation (a method that uses nothing of its instance)."""


CACHED_LENGTH = 256
"""Longer values (no real name part is) are prepared every time: the cache holds at most 4096 × 256 characters."""


@functools.lru_cache(maxsize=4096)
def _cached(string: str) -> str:
    result: str = ASN1CRYPTO_PREP(None, string)
    return result


def prepared(string: str) -> str:
    """``string`` after RFC 4518 preparation, as asn1crypto prepares it (its error for a refused value)."""
    if not isinstance(string, str) or len(string) > CACHED_LENGTH:
        result: str = ASN1CRYPTO_PREP(None, string)
        return result
    return _cached(string)


def _prepared_method(self: x509.NameTypeAndValue, string: str) -> str:
    return prepared(string)


def install() -> None:
    """Use :func:`read_hex_string` for every hex string pyHanko reads and :func:`prepared` for every name asn1crypto
    prepares (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string
    x509.NameTypeAndValue._ldap_string_prep = _prepared_method


__all__ = ["ASN1CRYPTO_PREP", "PYHANKO_READER", "install", "prepared", "read_hex_string"]
