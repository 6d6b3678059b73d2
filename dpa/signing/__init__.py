"""The signing client: keys, RFC 3161 timestamps, the visible appearance, and signing one party's field.

Modules (import what you need; nothing is re-exported here so that ``import dpa.signing`` stays cheap):

* :mod:`dpa.signing.sign` — :class:`~dpa.signing.sign.SigningSession` (built once per run) and
  :func:`~dpa.signing.sign.sign_pdf` (one-shot);
* :mod:`dpa.signing.keys` — PKCS#12 / PEM / PKCS#11 signers, certificate checks, secrets from the environment;
* :mod:`dpa.signing.timestamps` — the RFC 3161 client with failover, retries, auth and token validation;
* :mod:`dpa.signing.appearance`, :mod:`~dpa.signing.document`, :mod:`~dpa.signing.output`,
  :mod:`~dpa.signing.trust`, :mod:`~dpa.signing.rfc3161` — the parts those are made of.

Nothing here imports :mod:`dpa.assembly`, :mod:`dpa.verify`, :mod:`dpa.workflows` or click, and nothing prints.
"""
