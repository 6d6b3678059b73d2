"""The customer's signing page, as a library (the web face of ``dpa serve`` is a thin layer over it).

* :mod:`dpa.portal.flow` — :class:`~dpa.portal.flow.SigningPortal`: invite, look, first interaction, one-time
  code, certificate, prepare, finish (→ ingest), evidence, CRL;
* :mod:`~dpa.portal.invitations` and :mod:`~dpa.portal.codes` — signing links (stored hashed) and one-time codes
  (HMAC with a server secret), the browser session a link is bound to;
* :mod:`~dpa.portal.ca` and :mod:`~dpa.portal.certificates` — the customer-signing CA, its certificates for keys
  made in the browser, its CRL; :mod:`~dpa.portal.binding` — dpa's private OIDs (agreement binding, evidence head);
* :mod:`~dpa.portal.remote_sign` — the controller's signature by pyHanko's interrupted signing;
* :mod:`~dpa.portal.evidence` — hash-chained register events and their words;
* :mod:`~dpa.portal.mail` and :mod:`~dpa.portal.messages` — SMTP, the development outbox, the mails' texts.

Nothing here prints, and nothing here ever holds a private key of the customer.
"""
