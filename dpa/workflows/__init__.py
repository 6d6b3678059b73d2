"""The steps strung together: issue one agreement (the only issue path), a batch, an ingest, the demo.

* :mod:`dpa.workflows.issue` — record → assembled PDF (:func:`~dpa.workflows.issue.assemble`) → issued, certified
  agreement in the register (:func:`~dpa.workflows.issue.issue_one`);
* :mod:`dpa.workflows.batch` — one issued agreement per CSV row, resumable;
* :mod:`dpa.workflows.ingest` — a counter-signed return back into the register;
* :mod:`dpa.workflows.demo` — the whole flow on embedded defaults.
"""
