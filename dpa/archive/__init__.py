"""Long-term validation (DESIGN.md §12): validation data and document timestamps, PAdES B-LT and B-LTA.

Empty until the long-term validation work lands here (``dpa archive seal`` and ``dpa archive extend``).
"""
