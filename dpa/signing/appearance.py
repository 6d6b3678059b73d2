"""The visible signature appearance: signer, role and time, set in an embedded font (PDF/A-2b needs that).

The font is Liberation Sans. Embedding a subset of the whole font per signature means parsing and subsetting a
400 KB TrueType file every time; instead the font is cut down once per process to the Latin repertoire a name can
use (:data:`PRESUBSET_UNICODES`), and each signature embeds a subset of that. Text with characters outside it falls
back to the full font.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import TextStampStyle

from dpa.config import PathsConfig
from dpa.errors import ConfigError
from dpa.roles import BY_ROLE

DEFAULT_FONT = PathsConfig().appearance_font
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# Basic Latin, Latin-1 Supplement, Latin Extended-A, Romanian comma-below letters, punctuation and the euro sign.
PRESUBSET_UNICODES: frozenset[int] = frozenset(
    [
        *range(0x20, 0x7F),
        *range(0xA0, 0x180),
        *range(0x218, 0x21C),
        *range(0x2010, 0x2027),
        0x2030,
        0x2039,
        0x203A,
        0x20AC,
        0x2122,
    ]
)

STAMP_TEXT = "Digitaal ondertekend door\n%(signer)s\n%(role)s\n%(when)s"
"""Appearance template; ``when`` reads "Ondertekend <time> (klok van de ondertekenaar)": the signer's own clock,
labelled as such, because the trusted timestamp is obtained only after the appearance is fixed."""


@functools.cache
def _font_bytes(path: Path, presubset: bool) -> bytes:
    """The font, scaled to 1000 units per em; with ``presubset``, cut down to :data:`PRESUBSET_UNICODES`.

    Cached per process: parsing and rewriting a 400 KB TrueType file costs far more than a signature.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the signature font {path} cannot be read ({exc.strerror or exc}); install fonts-liberation"
        ) from None
    from fontTools import subset, ttLib
    from fontTools.ttLib.scaleUpem import scale_upem

    font = ttLib.TTFont(io.BytesIO(data))
    # pyHanko writes glyph widths (/W) in font units, but PDF reads them as thousandths of an em: with Liberation
    # Sans (2048 units per em) every letter would be spread to twice its width. Scale the font to 1000 units.
    if font["head"].unitsPerEm != 1000:
        scale_upem(font, 1000)
    if not presubset:
        out = io.BytesIO()
        font.save(out)
        font.close()
        return out.getvalue()
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = ["kern", "liga"]
    options.drop_tables += ["FFTM"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=sorted(PRESUBSET_UNICODES))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    font.close()
    return out.getvalue()


class EmbeddedFontFactory(FontEngineFactory):
    """A pyHanko font factory that embeds (a subset of) a TrueType font held in memory."""

    def __init__(self, font_path: Path = DEFAULT_FONT, font_size: int = 9, *, presubset: bool = True) -> None:
        self.font_path = font_path
        self.font_size = font_size
        self.presubset = presubset

    def warm_up(self) -> None:
        """Load (and pre-subset) the font now rather than during the first signature."""
        _font_bytes(self.font_path, self.presubset)

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> GlyphAccumulator:
        """A fresh glyph accumulator for one PDF writer (one signature)."""
        data = _font_bytes(self.font_path, self.presubset)
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return _SubsetCachingAccumulator(
            (self.font_path, self.presubset),
            writer=writer,
            font_handle=io.BytesIO(data),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


TIME_CHARACTERS = "0123456789-:. CETS"
"""What the appearance's time line can show beyond the words: digits, separators, CET/CEST."""
_SUBSETS: dict[tuple[object, frozenset[int]], bytes] = {}
_SUBSETS_LOCK = threading.Lock()
MAX_CACHED_SUBSETS = 256


class _SubsetCachingAccumulator(GlyphAccumulator):
    """pyHanko's glyph accumulator, with the embedded font subset made once per set of glyphs and process.

    Subsetting and saving the font was half of a signature's CPU time (measured: 0.015 of 0.033 s). A batch signs
    with the same name and role again and again, and only the digits of the time vary, so a handful of glyph sets
    recur: their font programs are cached. The font descriptor's metrics come from the font before subsetting, as
    in pyHanko; only the bytes of /FontFile2 are taken from the cache. Relies on pyHanko 0.38's
    ``CIDFontType2.set_font_file`` and ``_font_descriptor`` (pyHanko is pinned in pyproject.toml).
    """

    def __init__(self, font_key: object, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._font_key = font_key
        self.cidfont_obj.set_font_file = self._set_font_file  # type: ignore[method-assign]

    def _include_time_glyphs(self) -> None:
        """Always embed every glyph the time can use, so that one signer's signatures share one glyph set (and one
        cached subset) whatever the digits of their time: without this, nearly every second was a new set."""
        cmap = self.tt.getBestCmap() or {}
        for char in TIME_CHARACTERS:
            glyph_name = cmap.get(ord(char))
            if glyph_name is not None:
                self._get_cid_and_width(self.tt.getGlyphID(glyph_name))

    def _extract_subset(self, options: Any = None) -> None:
        """Deferred to :meth:`_set_font_file`, which subsets only when the glyph set is not cached."""

    def _set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        self._include_time_glyphs()
        key = (self._font_key, frozenset(self._glyphs))
        with _SUBSETS_LOCK:
            data = _SUBSETS.get(key)
        if data is None:
            GlyphAccumulator._extract_subset(self)
            out = io.BytesIO()
            self.tt.save(out)
            data = out.getvalue()
            with _SUBSETS_LOCK:
                if len(_SUBSETS) >= MAX_CACHED_SUBSETS:
                    _SUBSETS.clear()
                _SUBSETS[key] = data
        stream = generic.StreamObject(stream_data=data)
        stream.compress()  # type: ignore[no-untyped-call]
        reference = writer.add_object(stream)
        self.cidfont_obj._font_descriptor[generic.pdf_name("/FontFile2")] = reference
        return reference


def covers(text: str) -> bool:
    """Whether every character of ``text`` (ignoring line breaks) is in the pre-subset font."""
    return all(ord(ch) in PRESUBSET_UNICODES for ch in text if ch not in "\n\r")


def stamp_style(font_path: Path = DEFAULT_FONT, *, presubset: bool = True) -> TextStampStyle:
    """The signature stamp style: dark text in the embedded font, a thin grey border, no background."""
    font = EmbeddedFontFactory(font_path, presubset=presubset)
    return TextStampStyle(
        stamp_text=STAMP_TEXT,
        text_box_style=TextBoxStyle(font=font, font_size=9, leading=11, text_color=(0.1, 0.1, 0.1)),
        border_width=1,
        border_color=(0.55, 0.55, 0.55),
        background=None,
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins.uniform(4),  # type: ignore[no-untyped-call]
        ),
    )


def appearance_text_params(signer_name: str, organization: str, role: str, when: dt.datetime) -> dict[str, str]:
    """Values for :data:`STAMP_TEXT`: name, role (with the organization when known) and the signer's time."""
    role_label = BY_ROLE[role].stamp
    if organization and organization not in signer_name:
        role_label = f"{role_label} ({organization})"
    local = when.astimezone(AMSTERDAM)
    return {
        "signer": signer_name,
        "role": role_label,
        "when": f"Ondertekend {local:%d-%m-%Y %H:%M:%S %Z} (klok van de ondertekenaar)",
    }
