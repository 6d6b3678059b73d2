"""What ``dpa verify`` is given: folders walked for PDFs, files read only when they are regular files, trust lists.

A FIFO, a device or a socket is reported as "not a regular file" without being opened for reading (it would block
or never end); the file is opened non-blocking and checked again after opening, so a file swapped for a FIFO
between the two looks is not read either. The size limit is checked before anything is read.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dpa.config import Config
from dpa.errors import ConfigError, VerificationError


def iter_pdf_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked (recursively, sorted, symlinked folders not followed) for ``*.pdf``."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(".pdf"):
                        yield Path(root) / name
        else:
            yield path


class NotChecked(Exception):
    """A path that is not a regular file, or cannot be opened: the sentence says why."""


class TooLarge(Exception):
    """A file over the size limit (its size in ``size``)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, opened without blocking; FIFOs, devices and sockets are refused unread."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise NotChecked("the file does not exist") from None
    except OSError as exc:
        raise NotChecked(f"the file cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise NotChecked("this is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise NotChecked(f"not a regular file ({_kind(info.st_mode)}); it was not read")
    if info.st_size > limit:
        raise TooLarge(info.st_size)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise NotChecked(f"the file cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since stat(): never read it
            raise NotChecked("not a regular file; it was not read")
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew since stat()
        raise TooLarge(len(data))
    return data


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def der_base64(certs: Sequence[Any]) -> list[str]:
    """Certificates as base64 DER, for the worker's start-up message."""
    return [base64.b64encode(cert.dump()).decode("ascii") for cert in certs]


def load_trust(
    config: Config, extra_trust: Sequence[Path], extra_tsa_trust: Sequence[Path]
) -> tuple[list[Any], list[Any], list[Any]]:
    """Signers' roots, TSA roots and ipcall.me's certificates; a clear error naming the fix when a list is empty."""
    paths = [*config.trust.roots, *extra_trust]
    if not paths:
        raise VerificationError(
            "no trust roots to verify against: add the CA certificates of signers to [trust] roots in dpa.toml or "
            "pass --trust PEM"
        )
    tsa_paths = [*config.trust.tsa_roots, *extra_tsa_trust]
    if not tsa_paths:
        where = config.source or "dpa.toml"
        raise ConfigError(
            f"[trust] tsa_roots is empty in {where}: add the CA certificate(s) of the timestamp authorities you "
            'accept (tsa_roots = ["tsa-ca.pem"]) or pass --trust-tsa PEM; signers\' CAs are never trusted for '
            "timestamps"
        )
    from dpa.signing.trust import load_certificates, load_trust_roots  # pyhanko_certvalidator: while the worker starts

    processor_certs = [
        cert
        for path in config.verify.processor_certificates
        for cert in load_certificates(path, "processor certificate ([verify] processor_certificates)")
    ]
    return load_trust_roots(paths), load_trust_roots(tsa_paths), processor_certs


def load_signing_cas(config: Config) -> list[Any]:
    """The customer-signing CA of ``[signing_ca] cert`` (none without that section): trusted for controller
    signatures on dpa's agreements only, each bound to one agreement (DESIGN.md §11)."""
    if config.signing_ca is None:
        return []
    from dpa.signing.trust import load_trust_roots

    return load_trust_roots([config.signing_ca.cert])


__all__ = [
    "NotChecked",
    "TooLarge",
    "der_base64",
    "iter_pdf_paths",
    "load_signing_cas",
    "load_trust",
    "read_regular_file",
]
