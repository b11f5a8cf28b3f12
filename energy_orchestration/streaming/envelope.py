"""The message format on raw topics: versioned JSON around the provider's record, untouched.

Carrying the raw record (not our parse of it) means a parser fix can be replayed from the
topic or from ``raw_records`` without re-fetching from the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

SCHEMA = "energy.raw-record"
VERSION = 1


class DecodeError(ValueError):
    """The message is not a raw-record envelope we understand; the text says why."""


@dataclass(frozen=True)
class Envelope:
    provider: str
    dataset: str
    fetched_at_utc: datetime  # naive UTC
    record: Any


def encoder(provider: str, dataset: str, fetched_at: datetime) -> Callable[[Any], bytes]:
    """Encodes the records of one fetch: the envelope around them is the same for every record,
    so it is built once and each record's JSON is spliced in. Formatting ``fetched_at`` per record
    was a quarter of publishing a 31-day history page (benchmarks/fetch_publish.py)."""
    fetched = fetched_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = orjson.dumps({"schema": SCHEMA, "v": VERSION, "provider": provider, "dataset": dataset,
                         "fetched_at": fetched})[:-1] + b',"record":'

    def encode_record(record: Any) -> bytes:
        return head + orjson.dumps(record) + b"}"

    return encode_record


def encode(provider: str, dataset: str, record: dict[str, Any], fetched_at: datetime) -> bytes:
    """One record's message; a whole fetch goes through :func:`encoder`."""
    return encoder(provider, dataset, fetched_at)(record)


def decode(value: bytes | None, known_datasets: set[str]) -> Envelope:
    if value is None:
        raise DecodeError("empty message (tombstone)")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"not a JSON object but {type(document).__name__}")
    if document.get("schema") != SCHEMA:
        raise DecodeError(f"unknown schema {document.get('schema')!r}")
    if document.get("v") != VERSION:
        raise DecodeError(f"unsupported envelope version {document.get('v')!r} (this consumer reads {VERSION})")
    dataset = document.get("dataset")
    if dataset not in known_datasets:
        raise DecodeError(f"unknown dataset {dataset!r}")
    try:
        fetched = _fetched_at(document["fetched_at"])
    except (KeyError, TypeError, ValueError):
        raise DecodeError(f"bad fetched_at {document.get('fetched_at')!r}") from None
    if "record" not in document:
        raise DecodeError("no 'record' field")
    return Envelope(provider=str(document.get("provider")), dataset=dataset, fetched_at_utc=fetched,
                    record=document["record"])


_FETCHED_AT: dict[str, datetime] = {}


def _fetched_at(text: str) -> datetime:
    """``fetched_at`` as naive UTC. Remembered per text: every record of one fetch carries the same
    text, so a batch of 20,000 messages holds a handful of distinct values (and parsing was ~10 %
    of decoding). Only texts with an offset are remembered: a naive one is read in the process's
    local zone, which may change."""
    known = _FETCHED_AT.get(text)
    if known is not None:
        return known
    parsed = datetime.fromisoformat(text)
    moment = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if parsed.tzinfo is not None:
        if len(_FETCHED_AT) >= 1024:  # a long-running consumer sees a new text per fetch
            _FETCHED_AT.clear()
        _FETCHED_AT[text] = moment
    return moment
