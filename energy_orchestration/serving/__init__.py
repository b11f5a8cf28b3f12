"""Serving: the HTTP API, the WebSocket live push and the dashboard (`energy serve`).

Reads of history go through :mod:`energy_orchestration.warehouse`; the latest values come from
an in-memory cache fed straight from Kafka (:mod:`.cache`), so they are fresh and cheap.
"""
