"""Tools for development and tests, never on the production signing path.

* :mod:`dpa.devtools.tsa_server` — the embedded RFC 3161 server behind ``dpa tsa serve``, over
  :mod:`dpa.devtools.http_service`, which also answers the revocation services of :mod:`dpa.devtools.revocation`;
* :mod:`dpa.devtools.devpki` — ``dpa pki init`` and ``dpa pki revoke`` (marked NIET VOOR PRODUCTIE), on the
  certificate API of :mod:`dpa.devtools.certs`.
"""

REVOCATION_REASONS = (
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "privilegeWithdrawn",
)
"""RFC 5280 reason codes ``dpa pki revoke`` accepts (a hold, which can be undone, is not one of them); here, so
that the command line can offer them without importing the PKI code."""
