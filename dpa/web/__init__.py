"""The web application for sales, legal and operations (``dpa serve``, DESIGN.md §10): a second face over the
same library as :mod:`dpa.cli`. FastAPI (Starlette) with server-rendered Jinja2 pages, served by uvicorn.

* :mod:`dpa.web.app` builds the application; :mod:`dpa.web.server` runs it (and ``--dev``'s embedded set-up);
* :mod:`dpa.web.runtime` holds the long-lived library objects; :mod:`dpa.web.batches` the background batch;
* :mod:`dpa.web.auth`, :mod:`dpa.web.security`: sessions, roles, CSRF, upload cap, headers, access log;
* :mod:`dpa.web.errors` is the one place where errors become messages; :mod:`dpa.web.routes` the pages and API.
"""
