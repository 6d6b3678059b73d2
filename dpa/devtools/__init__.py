"""Tools for development and tests, never on the production signing path.

* :mod:`dpa.devtools.tsa_server` — the embedded RFC 3161 server behind ``dpa tsa serve``;
* :mod:`dpa.devtools.devpki` — throwaway CAs and certificates, ``dpa pki init`` (marked NIET VOOR PRODUCTIE).
"""
