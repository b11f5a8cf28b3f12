"""Providers: one module each (HTTP client, paging, parsing to the canonical record).

:data:`DATASETS` is the registry the rest of the platform iterates over; every entry implements
:class:`~energy_orchestration.sources.contract.Dataset` (provider, interval, publication lag,
record key, message key, known fields, parser) and every provider's client
:class:`~energy_orchestration.sources.contract.SourceClient`. Adding a provider:
docs/adding-a-provider.md.
"""

from __future__ import annotations

from energy_orchestration.sources import energidataservice, odre
from energy_orchestration.sources.contract import Dataset, SourceClient

DATASETS: dict[str, Dataset] = {**energidataservice.DATASETS, **odre.DATASETS}
"""Dataset name -> spec, for every provider."""

__all__ = ["DATASETS", "Dataset", "SourceClient"]
