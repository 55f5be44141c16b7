"""The OpenAI Responses API for every provider: translation to and from the canonical chat shape
(`translate`, `stream`) and the store that keeps served responses for ``previous_response_id`` (`store`).

The routes live in `bifrost.server.routes.responses`; this package does no HTTP.
"""
