"""Legal's verdict: DESIGN.md §6 applied to a PDF, with pyHanko's validation as the base.

* :mod:`dpa.verify.verifier` — :class:`~dpa.verify.verifier.Verifier`, the entry point (a warm, limited worker);
* :mod:`dpa.verify.worker` — the worker process and its time and memory limits;
* :mod:`dpa.verify.engine` — the rules for one document;
* :mod:`dpa.verify.changes` — what may change after a signature (the difference policy);
* :mod:`dpa.verify.report` — the report per signature and document, its JSON and its words;
* :mod:`dpa.verify.effective_date` — art. 12.1: the date of the last signature, Europe/Amsterdam.

Nothing here imports :mod:`dpa.signing.sign` or :mod:`dpa.signing.keys`, and nothing prints.
"""
