"""The routes, by audience: sign-in and account, agreements (sales, legal), documents (verify, ingest), batch
(operations), users (admin), and the JSON API. Each is thin: it reads the request, calls the library, renders."""
