"""The signing half of dpa: keys, timestamps, the embedded TSA, signing, and the development PKI.

Modules (import what you need; nothing is re-exported here so that ``import dpa.signing`` stays cheap):

* :mod:`dpa.signing.sign` — :class:`~dpa.signing.sign.SigningSession` (built once per run) and
  :func:`~dpa.signing.sign.sign_pdf` (one-shot);
* :mod:`dpa.signing.keys` — PKCS#12 / PEM / PKCS#11 signers, certificate checks, secrets from the environment;
* :mod:`dpa.signing.timestamps` — the RFC 3161 client with failover, retries, auth and token validation;
* :mod:`dpa.signing.tsa_server` — the embedded RFC 3161 server behind ``dpa tsa serve``;
* :mod:`dpa.signing.devpki` — throwaway CAs and certificates, ``dpa pki init``;
* :mod:`dpa.signing.appearance`, :mod:`~dpa.signing.document`, :mod:`~dpa.signing.output`,
  :mod:`~dpa.signing.trust`, :mod:`~dpa.signing.rfc3161` — the parts those are made of.

Nothing here imports :mod:`dpa.assembly` or click, and nothing prints.
"""
