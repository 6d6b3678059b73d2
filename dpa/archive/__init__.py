"""Long-term validation (DESIGN.md §12): validation data and document timestamps, PAdES B-LTA.

* :mod:`dpa.archive.seal` — :class:`~dpa.archive.seal.Archiver` (one run), :func:`~dpa.archive.seal.seal` and
  :func:`~dpa.archive.seal.extend` (``dpa archive seal`` / ``extend``), and ``Archiver.seal_bytes`` for ingest;
* :mod:`dpa.archive.evidence` — what a file on record holds: signatures, timestamps, which one expires first.

Validation data at signing time (B-LT) is :mod:`dpa.signing.ltv`, which this package reuses.
"""
