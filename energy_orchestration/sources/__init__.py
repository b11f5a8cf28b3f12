"""Providers: one module each (HTTP client, paging, parsing to the canonical record).

:data:`DATASETS` is the registry the rest of the platform iterates over; a dataset spec knows
its provider, interval, record key, message key and how to normalise its records.
"""

from __future__ import annotations

from energy_orchestration.sources import energidataservice, odre

DATASETS = {**energidataservice.DATASETS, **odre.DATASETS}
"""Dataset name -> spec (``provider``, ``interval_minutes``, ``record_key``, ``message_zone``,
``known_field``, ``normalise``; optional ``publication_lag_minutes``)."""
