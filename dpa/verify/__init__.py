"""Legal's verdict: DESIGN.md §6 applied to a PDF, with pyHanko's validation as the base.

* :mod:`dpa.verify.verifier` — :class:`~dpa.verify.verifier.Verifier`, the entry point (a warm, limited worker);
* :mod:`dpa.verify.inputs` — what verify is given: folders, regular files only, the trust lists;
* :mod:`dpa.verify.worker` — the worker process and its time and memory limits;
* :mod:`dpa.verify.engine` — one document: orchestration of the layers below;
* :mod:`dpa.verify.signature_checks` — one signature or document timestamp through the layers;
* :mod:`dpa.verify.structure` — revisions, every byte accounted for, ByteRange, /Filter, dpa's metadata;
* :mod:`dpa.verify.changes` and :mod:`dpa.verify.xmp` — what may change after a signature (XMP as RDF);
* :mod:`dpa.verify.timing` — timestamps (validated once), their order, accuracy, /M;
* :mod:`dpa.verify.trust` and :mod:`dpa.verify.roles_check` — paths, roots, key usage, roles bound to certificates;
* :mod:`dpa.verify.findings` — what the rules learn; :mod:`dpa.verify.explain` — the words (escaped, deterministic);
* :mod:`dpa.verify.report` — the report per signature and document, typed indications, JSON and text;
* :mod:`dpa.verify.effective_date` — art. 12.1: the date of the last signature, Europe/Amsterdam.

Nothing here imports :mod:`dpa.signing.sign` or :mod:`dpa.signing.keys`, and nothing prints.
"""
