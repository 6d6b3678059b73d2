"""Customers' real signing tools, driven as a customer's machine would drive them, against a dpa-issued agreement.

Each function takes the issued PDF and writes the customer's return next to it: pyHanko's CLI (``pyhanko-cli``),
poppler's ``pdfsig -sign`` (an NSS database), iText 5 and PDFBox 2 (small Java signers in ``java/``, compiled once per
session), LibreOffice's PDF signing over UNO (``lo_sign.py``), and Acrobat-style "Fill & Sign" annotations written
in an incremental update with pypdf. No secret goes on a command line: passphrases travel in files (mode 0600) or
the environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from dpa.roles import CONTROLLER

HERE = Path(__file__).resolve().parent
JAVA_SOURCES = (HERE / "java" / "ItextSign.java", HERE / "java" / "PdfboxSign.java")
# Debian's jars (libitext5-java, libpdfbox2-java with fontbox and commons-logging, libbc*-java)
JARS = tuple(
    Path("/usr/share/java") / name
    for name in ("itext5.jar", "pdfbox2.jar", "fontbox2.jar", "commons-logging.jar", "bcprov.jar", "bcpkix.jar")
    + ("bcutil.jar",)
)
UNO_PYTHON = os.environ.get("DPA_UNO_PYTHON", "/usr/bin/python3")
TOOL_TIMEOUT_S = 180  # generous: Java and LibreOffice start slowly on a loaded 2-core machine


def run_tool(
    command: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one tool in its own process group; on a timeout the whole group is killed (no orphaned soffice/JVM)."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"{command[0]} did not finish in {TOOL_TIMEOUT_S} s: {stderr[-2000:]}") from None
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert result.returncode == 0, f"{' '.join(command[:2])} failed ({result.returncode}): {stderr[-3000:]}"
    return result


def secret_file(path: Path, secret: str) -> Path:
    """``secret`` in a file only its owner can read (for tools that read a passphrase from a file)."""
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)
    return path


# --- the controller's key in the tools' own key stores ------------------------------------------------------------


@dataclass(frozen=True)
class ControllerKey:
    """The customer's development PKCS#12, its passphrase, and the CA that issued it."""

    p12: Path
    passphrase: str
    ca: Path
    subject_cn: str


def nss_db_with_key(directory: Path, key: ControllerKey) -> Path:
    """An NSS database (empty password) holding the controller's key and certificate and trusting the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    passfile = secret_file(directory.parent / f"{directory.name}.p12pass", key.passphrase)
    run_tool(["certutil", "-N", "--empty-password", "-d", db])
    run_tool(["pk12util", "-i", str(key.p12), "-w", str(passfile), "-d", db])
    run_tool(["certutil", "-A", "-n", "dpa-development-ca", "-t", "CT,C,C", "-i", str(key.ca), "-d", db])
    passfile.unlink()
    return directory


# --- the signers ----------------------------------------------------------------------------------------------------


def pyhanko_cli(issued: Path, output: Path, key: ControllerKey, tsa_url: str | None) -> Path:
    """``pyhanko sign addsig`` in the prepared field, PAdES, with ``--timestamp-url`` when given."""
    passfile = secret_file(output.with_suffix(".pass"), key.passphrase)
    command = [sys.executable, "-m", "pyhanko", "sign", "addsig", "--field", CONTROLLER.field]
    command += ["--existing-only", "--use-pades", "--reason", CONTROLLER.stamp]
    if tsa_url:
        command += ["--timestamp-url", tsa_url]
    command += ["pkcs12", "--passfile", str(passfile), str(issued), str(output), str(key.p12)]
    try:
        run_tool(command, cwd=output.parent)  # pyHanko's CLI reads a pyhanko.yml from its working folder
    finally:
        passfile.unlink()
    return output


def pdfsig_sign(issued: Path, output: Path, nssdir: Path, key: ControllerKey) -> Path:
    """poppler's ``pdfsig -sign`` in the prepared field (ETSI.CAdES.detached); poppler 22 cannot add a timestamp."""
    run_tool(
        ["pdfsig", "-nssdir", f"sql:{nssdir}", "-sign", CONTROLLER.field, "-nick", key.subject_cn, "-etsi"]
        + ["-reason", CONTROLLER.stamp, str(issued), str(output)]
    )
    return output


def compile_java_signers(classes: Path) -> str:
    """``javac`` the two Java signers into ``classes``; returns the class path to run them with."""
    missing = [str(jar) for jar in JARS if not jar.exists()]
    assert not missing, f"missing jars (scripts/bootstrap.sh --test installs them): {missing}"
    classpath = ":".join(str(jar) for jar in JARS)
    classes.mkdir(parents=True, exist_ok=True)
    run_tool(["javac", "-Xlint:all,-path", "-d", str(classes), "-cp", classpath, *map(str, JAVA_SOURCES)])
    return f"{classes}:{classpath}"


def java_sign(
    program: str, classpath: str, issued: Path, output: Path, key: ControllerKey, tsa_url: str | None
) -> Path:
    """Run ``ItextSign`` or ``PdfboxSign`` on the prepared field; the passphrase goes in the environment."""
    command = ["java", "-XX:TieredStopAtLevel=1", f"-Dpdfbox.fontcache={output.parent}", "-cp", classpath, program]
    command += [str(issued), str(output), str(key.p12), CONTROLLER.field, *([tsa_url] if tsa_url else [])]
    run_tool(command, env={"SIGNER_P12_PASSPHRASE": key.passphrase, "HOME": str(output.parent)})
    return output


def libreoffice_sign(issued: Path, output: Path, nssdir: Path, key: ControllerKey, profile: Path) -> Path:
    """LibreOffice's PDF signing over UNO (``lo_sign.py`` under the system Python): signs a copy in place."""
    shutil.copyfile(issued, output)
    run_tool([UNO_PYTHON, str(HERE / "lo_sign.py"), str(profile), str(nssdir), str(output), key.subject_cn])
    return output


# --- Acrobat-style "Fill & Sign" --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """The controller's prepared box: page index and rectangle."""

    page: int
    rect: tuple[float, float, float, float]


def controller_box(pdf: Path) -> Box:
    """Where the controller's empty signature field is."""
    reader = PdfReader(pdf)
    for index, page in enumerate(reader.pages):
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/T") == CONTROLLER.field:
                x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
                return Box(index, (x0, y0, x1, y1))
    raise AssertionError(f"{pdf} has no {CONTROLLER.field}")


def _form(writer: PdfWriter, width: float, height: float, content: bytes, resources: DictionaryObject) -> object:
    stream = DecodedStreamObject()
    stream.set_data(content)
    stream.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(width), FloatObject(height)]),
            NameObject("/Resources"): resources,
        }
    )
    return writer._add_object(stream)


def _scribble(width: float, height: float) -> tuple[list[float], bytes]:
    """A hand-drawn-looking signature: the ink points (relative to the box) and the path that draws them."""
    xs = [0.05, 0.2, 0.3, 0.45, 0.55, 0.7, 0.8, 0.95]
    ys = [0.3, 0.8, 0.2, 0.75, 0.25, 0.7, 0.35, 0.6]
    points = [v for x, y in zip(xs, ys, strict=True) for v in (x * width, y * height)]
    path = f"{points[0]:.2f} {points[1]:.2f} m " + " ".join(
        f"{points[i]:.2f} {points[i + 1]:.2f} l" for i in range(2, len(points), 2)
    )
    return points, f"0 0 0.6 RG 1.5 w 1 J 1 j {path} S".encode()


FILL_AND_SIGN_KINDS = ("ink", "freetext", "stamp")


def fill_and_sign(issued: Path, output: Path, kind: str, *, reach_outside: bool = False) -> Box:
    """What Acrobat's "Fill & Sign" writes: an ink drawing, typed text or a stamp in the controller's box, as an
    annotation in an incremental update; ``reach_outside`` makes it cover the text above the box as well.

    Returns the rectangle the annotation covers (on the box's page).
    """
    box = controller_box(issued)
    x0, y0, x1, y1 = box.rect
    if reach_outside:
        x0, y1 = x0 - 40, y1 + 60  # over the anchor line "Handtekening Verwerkingsverantwoordelijke" and beyond
    rect = (x0 + 4, y0 + 4, x1 - 4, y1 - 4)
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    writer = PdfWriter(PdfReader(issued), incremental=True)
    annot = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Rect"): ArrayObject([FloatObject(round(v, 2)) for v in rect]),
            NameObject("/F"): NumberObject(4),
            NameObject("/M"): TextStringObject("D:20261201120000+01'00'"),
            NameObject("/T"): TextStringObject("J. de Vries"),
        }
    )
    points, drawing = _scribble(width, height)
    if kind == "ink":
        annot[NameObject("/Subtype")] = NameObject("/Ink")
        absolute = [v + (rect[0] if i % 2 == 0 else rect[1]) for i, v in enumerate(points)]
        annot[NameObject("/InkList")] = ArrayObject([ArrayObject([FloatObject(round(v, 2)) for v in absolute])])
        appearance = _form(writer, width, height, drawing, DictionaryObject())
    elif kind == "freetext":
        annot[NameObject("/Subtype")] = NameObject("/FreeText")
        annot[NameObject("/Contents")] = TextStringObject("J. de Vries")
        annot[NameObject("/DA")] = TextStringObject("0 0 0.6 rg /Helv 16 Tf")
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/Helv"): font})})
        text = f"BT 0 0 0.6 rg /Helv 16 Tf 6 {height / 2 - 6:.2f} Td (J. de Vries) Tj ET".encode()
        appearance = _form(writer, width, height, text, resources)
    elif kind == "stamp":
        annot[NameObject("/Subtype")] = NameObject("/Stamp")
        annot[NameObject("/Name")] = NameObject("/Signature")
        appearance = _form(writer, width, height, drawing, DictionaryObject())
    else:
        raise ValueError(f"unknown Fill & Sign kind {kind!r}")
    annot[NameObject("/AP")] = DictionaryObject({NameObject("/N"): appearance})
    writer.add_annotation(box.page, annot)
    with output.open("wb") as handle:
        writer.write(handle)
    return Box(box.page, rect)


def flatten_drawing(issued: Path, output: Path, *, reach_outside: bool = False) -> Box:
    """What a tool that flattens Fill & Sign writes: the drawing merged into the page's content, as Acrobat's
    flattening does — the page's content wrapped as ``[q] + old + [Q, the drawing as a form XObject]`` and the
    form added to the page's resources — in an incremental update; ``reach_outside`` as in :func:`fill_and_sign`.

    Returns the rectangle the drawing covers (on the box's page).
    """
    box = controller_box(issued)
    x0, y0, x1, y1 = box.rect
    if reach_outside:
        x0, y1 = x0 - 40, y1 + 60
    rect = (x0 + 4, y0 + 4, x1 - 4, y1 - 4)
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    writer = PdfWriter(PdfReader(issued), incremental=True)
    page = writer.pages[box.page]
    _points, drawing = _scribble(width, height)
    form = _form(writer, width, height, drawing, DictionaryObject())
    resources = page["/Resources"].get_object()
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else DictionaryObject()
    xobjects[NameObject("/DpaFlat0")] = form
    resources[NameObject("/XObject")] = xobjects

    def stream(data: bytes) -> object:
        content = DecodedStreamObject()
        content.set_data(data)
        return writer._add_object(content)

    old = page.raw_get("/Contents")
    old_items = list(old.get_object()) if isinstance(old.get_object(), ArrayObject) else [old]
    placed = f"Q q 1 0 0 1 {rect[0]:.2f} {rect[1]:.2f} cm /DpaFlat0 Do Q".encode()
    page[NameObject("/Contents")] = ArrayObject([stream(b"q"), *old_items, stream(placed)])
    with output.open("wb") as handle:
        writer.write(handle)
    return Box(box.page, rect)
