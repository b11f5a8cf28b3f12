"""What every provider module gives the rest of the platform: a :class:`Dataset` per dataset and
one :class:`SourceClient`.

Structural (``Protocol``) rather than a base class so each provider keeps the dataclass that fits
its own mapping vocabulary (price-area columns for Energi Data Service, regions and ``nature``
for éCO2mix); the platform (window planning, freshness, gap repair, the landing consumer, the API
feeder) only ever uses the members listed here. Steps to add a provider: docs/adding-a-provider.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from energy_orchestration.model import NormalisedBatch


class Dataset(Protocol):
    """One provider dataset: its identity, cadence, record key, message key and parser."""

    @property
    def name(self) -> str:
        """The provider's dataset name; also the key of :data:`energy_orchestration.sources.DATASETS`."""

    @property
    def provider(self) -> str:
        """The provider module's ``PROVIDER`` (``energidataservice``, ``odre``)."""

    @property
    def interval_minutes(self) -> int:
        """Length of one interval: the cadence of the live fetch and of completeness checks."""

    @property
    def publication_lag_minutes(self) -> int:
        """How long after an interval ends the provider publishes it (0 when at once); the live
        fetch, the freshness policy and gap repair ask for an interval only once it can exist."""

    @property
    def records_per_interval(self) -> int:
        """Records the provider publishes per interval (one per zone row): how many a complete
        backfilled day must hold."""

    def requests_for(self, intervals: int) -> int:
        """Requests a window of ``intervals`` intervals costs the provider (the live sensor's
        daily request budget is spent by this estimate)."""

    def record_key(self, record: dict[str, Any]) -> str:
        """The record's natural key (one text for every spelling of its time): the landing
        upsert key and what de-duplicates overlapping fetches."""

    def message_zone(self, record: dict[str, Any]) -> str:
        """The Kafka message key: the zone the record belongs to, so one zone stays ordered."""

    def known_field(self, name: str) -> bool:
        """Whether a record field is part of the dataset's contract; others are schema drift."""

    def normalise(self, records: list[Any], now: datetime | None = None) -> NormalisedBatch:
        """Provider records -> canonical observations, every refusal with its rule."""


class SourceClient(Protocol):
    """A provider's HTTP client: one window of one dataset's records."""

    def fetch_window(self, dataset: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """All records with ``start <= time < end`` (aware UTC), oldest first. Raises
        :class:`~energy_orchestration.sources.http.NotYetPublished` when the provider has
        nothing for the window yet (the caller must not treat it as done) and
        :class:`~energy_orchestration.sources.http.SourceError` for everything retrying did not fix."""
