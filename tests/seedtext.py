"""The legal seed text as sentences, and PDF text extraction, for comparing an agreement with its source."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pypdf import PdfReader

SEED = Path(__file__).resolve().parents[1] / "dpa" / "templates" / "source" / "verwerkersovereenkomst.txt"
PAGE_MARKER = re.compile(r"^\s*\d+\s*/\s*\d+\s*$")
FOOTER = re.compile(r"^\s*(Bijlage 1 – )?\d+ / \d+\s*$")


def normalise(text: str) -> str:
    """Collapse all whitespace to single spaces."""
    return " ".join(text.split())


def seed_sentences() -> list[str]:
    """Every sentence of the seed's articles 1–15 and Bijlage 1, with its markup removed."""
    lines = []
    for raw in SEED.read_text(encoding="utf-8").splitlines():
        if PAGE_MARKER.match(raw):
            continue
        line = raw.replace("**", "")
        line = re.sub(r"^\s*- ", "", line)
        if "\t" in line:  # the Bijlage table: tab-separated cells with an HTML list of bullets
            line = re.sub(r"<ul[^>]*>", "", line).replace("</ul>", "").replace("- ", "\n")
            line = line.replace("\t", "\n")
        lines.append(line)
    text = "\n".join(lines)
    chunks = [normalise(c) for c in re.split(r"\n\s*\n|\n(?=\S)", text)]
    sentences: list[str] = []
    for chunk in chunks:
        sentences.extend(s for s in re.split(r"(?<=[.;:])\s+(?=[A-Z(\d])", chunk) if s)
    return [s for s in sentences if s]


def pdf_text(pdf: Path) -> str:
    """The text of a PDF (pypdf extraction), page footers (``N / M``) removed, whitespace normalised.

    pypdf rather than pdftotext: pdftotext joins a line ending in " -" with the next as if it were hyphenation,
    which would hide a dash of the legal text (art. 12.3).
    """
    kept = []
    for page in PdfReader(pdf).pages:
        kept.extend(line for line in page.extract_text().splitlines() if not FOOTER.match(line))
    return normalise(" ".join(kept))


def page_words(pdf: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """Word boxes of one page (1-based) in PDF coordinates (origin bottom-left)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', html).group(1))  # type: ignore[union-attr]
    words = []
    for m in re.finditer(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', html):
        x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
        words.append((x0, height - y1, x1, height - y0, m.group(5)))
    return words
