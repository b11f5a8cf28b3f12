"""ODRÉ (Opendatasoft, RTE éCO2mix, France): client and parser.

Contract notes: /work/shared/external-apis.md §2. The client asks the Explore API v2.1 for a
UTC window on ``date_heure`` (never on the local ``date``/``heure`` text, which repeats at the
autumn DST change), always with ``order_by``. ``/records`` pages are capped at 100 rows and at
``offset + limit <= 10000``, so a window is walked with a ``date_heure`` cursor rather than a
growing offset; windows longer than a day use ``/exports/json`` (a bare array, no row cap).

Mapping decisions (provider field -> canonical quantity):

- ``ech_physiques`` -> ``exchange_net`` **unchanged**: the published balance is
  ``consommation = production + pompage + ech_physiques + batteries`` (checked on the recorded
  payloads), so a positive value is already a net import and ``< 0`` a net export, which is
  our convention.
- national ``eolien_terrestre``/``eolien_offshore`` -> ``production_wind_onshore``/
  ``production_wind_offshore``; the total ``eolien`` is not landed (double counting), except
  as onshore for a row that has neither split field.
- regional ``eolien`` has no split: it lands as ``production_wind_onshore``. That is an
  approximation: the offshore farms (Saint-Nazaire, Saint-Brieuc, Fécamp...) are counted in
  their coastal region's ``eolien``.
- regional ``thermique`` -> ``production_thermal_other``; national ``gaz``/``charbon``/``fioul``
  -> gas/coal/oil; sub-types (``gaz_*`` ...), ``tco_*``/``tch_*``, ``ech_comm_*`` stay in the
  raw record only.
- ``pompage`` -> ``pumping``, ``stockage_batterie`` -> ``storage_charge`` (both <= 0),
  ``destockage_batterie`` -> ``storage_discharge`` (>= 0), signs as published.
- ``prevision_j``/``prevision_j1`` -> ``consumption_forecast_d0``/``_d1``; ``taux_co2`` ->
  ``co2_intensity_reported``.
- ``nature`` sets the status per record (temps réel / consolidées / définitives); a revision
  has the same record key, so the landing upsert replaces the earlier value.
- Numbers may be strings (``"-66"``); ``"ND"`` and ``""`` mean absent. National rows holding
  only forecasts (the future part of the real-time set) are skipped and counted in
  ``NormalisedBatch.skipped["forecast_only"]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from energy_orchestration.model import (
    EARLIEST_PLAUSIBLE,
    ZONES,
    DataStatus,
    NormalisedBatch,
    Rejection,
    Unit,
    empty_observations,
    parse_interval_start,
    utc_now,
)
from energy_orchestration.sources.http import MalformedPage, NotYetPublished, PoliteSession, SourceError
from energy_orchestration.sources.normalise import (
    Melt,
    NumericColumn,
    column_reader,
    observation_frame,
    reject_not_numbers,
    reject_record,
    reject_violations,
)

PROVIDER = "odre"
LIVE_BASE_URL = "https://odre.opendatasoft.com"
API_PATH = "/api/explore/v2.1/catalog/datasets"
TIME_FIELD = "date_heure"
REGION_FIELD = "code_insee_region"

PAGE_LIMIT = 100
"""The ``/records`` cap on ``limit``."""
MAX_OFFSET_PLUS_LIMIT = 10_000
"""The ``/records`` cap on ``offset + limit``."""

_STATUS_ORDER = (DataStatus.REALTIME, DataStatus.CONSOLIDATED, DataStatus.DEFINITIVE)
_ABSENT_STRINGS = frozenset({"", "ND", "N/D", "NA"})


@dataclass(frozen=True)
class FieldMapping:
    """Where one provider field lands in the canonical vocabulary."""

    field: str
    quantity: str
    unit: Unit = Unit.MW
    sign: float = 1.0
    measured: bool = True
    """False for forecasts: a row with values only in such fields is a forecast-only row."""
    fallback: str | None = None
    """Field used instead where ``field`` and every ``fallback_unless`` field are absent."""
    fallback_unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class OdreDataset:
    """One éCO2mix dataset: what the platform needs (key, time, zone, parser)."""

    name: str
    interval_minutes: int
    mappings: tuple[FieldMapping, ...]
    default_status: DataStatus
    """Status for a record whose ``nature`` is missing or unknown."""
    region_field: str | None = None
    """``code_insee_region`` for regional datasets (one row per region and quarter-hour)."""
    national_zone: str = "FR"
    publication_lag_minutes: int = 10
    """RTE publishes a quarter-hour about 8 minutes after it ends; the live sensor asks for an
    interval only once it can exist (ingest.plan_window)."""

    @property
    def provider(self) -> str:
        return PROVIDER

    def known_field(self, name: str) -> bool:
        """Fields of the dataset's contract (mapped, or published and deliberately unused)."""
        mapped = {m.field for m in self.mappings} | {m.fallback for m in self.mappings if m.fallback}
        return name in mapped or name in _UNUSED_FIELDS or name.startswith(_UNUSED_PREFIXES)

    @property
    def records_per_interval(self) -> int:
        """One row per region (every known zone of the country), or one for the whole country."""
        return sum(1 for zone in ZONES if zone.startswith(f"{self.national_zone}-")) if self.regional else 1

    def requests_for(self, intervals: int) -> int:
        """``/records`` pages hold 100 rows, counted as up to 12 regions per interval (whatever
        the dataset, as the live sensor's budget always has)."""
        return max(1, math.ceil(intervals * 12 / PAGE_LIMIT))

    @property
    def regional(self) -> bool:
        return self.region_field is not None

    @property
    def order_by(self) -> str:
        """A total order, so a cursor page boundary inside one timestamp is well defined."""
        return f"{TIME_FIELD}, {self.region_field}" if self.region_field else TIME_FIELD

    def region_code(self, record: dict[str, Any]) -> str | None:
        code = record.get(self.region_field) if self.region_field else None
        if code is None or isinstance(code, bool):
            return None
        text = str(code).strip()
        return text or None

    def record_key(self, record: dict[str, Any]) -> str:
        """``date_heure`` (canonical UTC text), plus ``|code_insee_region`` for regions."""
        stamp = canonical_time_text(record.get(TIME_FIELD))
        if not self.regional:
            return stamp
        return f"{stamp}|{self.region_code(record)}"

    def record_time(self, record: Any) -> datetime | None:
        return parse_utc(record.get(TIME_FIELD)) if isinstance(record, dict) else None

    def message_zone(self, record: dict[str, Any]) -> str:
        if not self.regional:
            return self.national_zone
        return f"{self.national_zone}-{self.region_code(record)}"

    def has_measurements(self, record: dict[str, Any]) -> bool:
        """Whether the record holds any measured value (future national rows hold none)."""
        for mapping in self.mappings:
            if mapping.measured and not _is_absent(record.get(mapping.field)):
                return True
        return False

    def normalise(self, records: list[Any], now: datetime | None = None) -> NormalisedBatch:
        return normalise(self.name, records, now)


def _m(field_name: str, quantity: str, unit: Unit = Unit.MW, **kw: Any) -> FieldMapping:
    return FieldMapping(field_name, quantity, unit, **kw)


# Published fields we keep only in the raw record: identifiers, local date/time, coverage and load
# factors, commercial exchanges, fuel sub-types and an always-null column.
_UNUSED_FIELDS = frozenset({"date_heure", "date", "heure", "nature", "perimetre", "code_insee_region",
                            "libelle_region", "column_68", "eolien"})
_UNUSED_PREFIXES = ("tco_", "tch_", "ech_comm_", "gaz_", "fioul_", "hydraulique_", "bioenergies_")

_REGIONAL_MAPPINGS = (
    _m("consommation", "consumption"),
    _m("thermique", "production_thermal_other"),
    _m("nucleaire", "production_nuclear"),
    _m("eolien", "production_wind_onshore"),  # no split regionally: offshore included (approximation)
    _m("solaire", "production_solar"),
    _m("hydraulique", "production_hydro"),
    _m("pompage", "pumping"),
    _m("bioenergies", "production_bioenergy"),
    _m("ech_physiques", "exchange_net"),  # > 0 is a net import already
    _m("stockage_batterie", "storage_charge"),
    _m("destockage_batterie", "storage_discharge"),
)

_NATIONAL_MAPPINGS = (
    _m("consommation", "consumption"),
    _m("prevision_j1", "consumption_forecast_d1", measured=False),
    _m("prevision_j", "consumption_forecast_d0", measured=False),
    _m("fioul", "production_oil"),
    _m("charbon", "production_coal"),
    _m("gaz", "production_gas"),
    _m("nucleaire", "production_nuclear"),
    _m("eolien_terrestre", "production_wind_onshore", fallback="eolien", fallback_unless=("eolien_offshore",)),
    _m("eolien_offshore", "production_wind_offshore"),
    _m("solaire", "production_solar"),
    _m("hydraulique", "production_hydro"),
    _m("pompage", "pumping"),
    _m("bioenergies", "production_bioenergy"),
    _m("ech_physiques", "exchange_net"),
    _m("taux_co2", "co2_intensity_reported", Unit.G_CO2_PER_KWH),
    _m("stockage_batterie", "storage_charge"),
    _m("destockage_batterie", "storage_discharge"),
)

REGIONAL_TR = OdreDataset("eco2mix-regional-tr", 15, _REGIONAL_MAPPINGS, DataStatus.REALTIME, REGION_FIELD)
NATIONAL_TR = OdreDataset("eco2mix-national-tr", 15, _NATIONAL_MAPPINGS, DataStatus.REALTIME)
REGIONAL_CONS_DEF = OdreDataset("eco2mix-regional-cons-def", 30, _REGIONAL_MAPPINGS, DataStatus.CONSOLIDATED,
                                REGION_FIELD)

DATASETS: dict[str, OdreDataset] = {spec.name: spec for spec in (REGIONAL_TR, NATIONAL_TR, REGIONAL_CONS_DEF)}

NATIONAL_CONS_DEF = OdreDataset("eco2mix-national-cons-def", 30, _NATIONAL_MAPPINGS, DataStatus.CONSOLIDATED)
"""France's national history older than the real-time set's window (consolidated, then definitive):
the same fields as ``eco2mix-national-tr`` at a 30-minute step; older years publish only the total
``eolien``, which the onshore mapping's fallback takes."""
DATASETS[NATIONAL_CONS_DEF.name] = NATIONAL_CONS_DEF


# --- client ----------------------------------------------------------------------------------

def odsql_date(moment: datetime) -> str:
    """An ODSQL date literal for an instant: ``date'2026-08-27T07:45:00Z'``."""
    if moment.tzinfo is None:
        raise ValueError("ODRÉ windows need aware datetimes")
    return f"date'{moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def window_where(start: datetime, end: datetime) -> str:
    return f"{TIME_FIELD} >= {odsql_date(start)} and {TIME_FIELD} < {odsql_date(end)}"


class _ApiKeySession:
    """Adds ``Authorization: Apikey ...`` to every request of the wrapped session only.

    A wrapper rather than ``session.headers`` so a session shared with another provider's
    client never sends this key elsewhere; its repr never shows the key.
    """

    def __init__(self, inner: Any, api_key: str) -> None:
        self._inner = inner
        self._authorization = f"Apikey {api_key}"

    def get(self, url: str, params: Any = None, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self._inner.get(url, params=params, headers={**(headers or {}), "Authorization": self._authorization},
                               **kwargs)

    def __repr__(self) -> str:
        return f"_ApiKeySession({self._inner!r}, api_key=<hidden>)"


@dataclass
class OdreClient:
    base_url: str = LIVE_BASE_URL
    http: PoliteSession = field(default_factory=PoliteSession)
    api_key: str | None = field(default=None, repr=False)
    export_threshold: timedelta = timedelta(days=1)
    """Windows longer than this are fetched with ``/exports/json`` instead of ``/records`` pages."""
    export_chunk: timedelta = timedelta(days=31)
    """Longest window one export request covers (bounds the size of one response)."""

    def __post_init__(self) -> None:
        if self.api_key:
            self.http = dataclasses.replace(self.http, session=_ApiKeySession(self.http.session, self.api_key))

    def fetch_window(self, dataset: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """All records with ``start <= date_heure < end`` (aware UTC), oldest first.

        Raises :class:`NotYetPublished` when the service has nothing measured for the window
        (no rows, or only the forecast-only future rows of the national set): the caller
        must not treat that window as done.
        """
        spec = DATASETS[dataset]
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("fetch_window needs aware datetimes")
        if end <= start:
            return []
        if end - start > self.export_threshold:
            records = self._export(spec, start, end)
        else:
            records = self._walk_records(spec, start, end)
        if not any(spec.has_measurements(r) for r in records if isinstance(r, dict)):
            what = "only forecast rows" if records else "no rows"
            raise NotYetPublished(f"{dataset} has {what} yet for {start.isoformat()}..{end.isoformat()}",
                                  url=self._url(dataset, "records"))
        return records

    def _url(self, dataset: str, endpoint: str) -> str:
        return f"{self.base_url.rstrip('/')}{API_PATH}/{dataset}/{endpoint}"

    def _get(self, url: str, params: dict[str, Any]) -> Any:
        try:
            return self.http.get_json(url, params)
        except SourceError as exc:
            problem = _api_error(exc.body)
            if problem is None or exc.status is None:
                raise
            raise SourceError(f"HTTP {exc.status} from {url}: {problem}", status=exc.status, body=exc.body,
                              url=exc.url or url) from None

    def _walk_records(self, spec: OdreDataset, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """``/records`` pages along a ``date_heure`` cursor.

        Each page asks for ``date_heure >= cursor``; ``offset`` only skips the rows of the
        cursor timestamp already taken (at most the regions of one quarter-hour), so it stays
        far below the 10,000 cap however long the window. Rows are de-duplicated by key in case
        the service's order within a timestamp is not stable.
        """
        url = self._url(spec.name, "records")
        cursor = start.astimezone(timezone.utc)
        skip = 0
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        while True:
            if skip + PAGE_LIMIT > MAX_OFFSET_PLUS_LIMIT:
                raise SourceError(f"{spec.name}: more than {MAX_OFFSET_PLUS_LIMIT - PAGE_LIMIT} rows share "
                                  f"{TIME_FIELD} {cursor.isoformat()}; cannot page further", url=url)
            params = {"where": window_where(cursor, end), "order_by": spec.order_by, "limit": PAGE_LIMIT,
                      "offset": skip, "timezone": "UTC"}
            page = self._get(url, params)
            results = _results_of(page, url)
            for record in results:
                key = spec.record_key(record) if isinstance(record, dict) else repr(record)
                if key not in seen:
                    seen.add(key)
                    out.append(record)
            total = page.get("total_count")
            if len(results) < PAGE_LIMIT or (isinstance(total, int) and skip + len(results) >= total):
                return out
            last = _last_time(results, url)
            at_last = sum(1 for r in results if isinstance(r, dict) and parse_utc(r.get(TIME_FIELD)) == last)
            last_aware = last.replace(tzinfo=timezone.utc)
            if last_aware == cursor:
                skip += len(results)  # the whole page shares the cursor timestamp
            else:
                cursor, skip = last_aware, at_last

    def _export(self, spec: OdreDataset, start: datetime, end: datetime) -> list[dict[str, Any]]:
        url = self._url(spec.name, "exports/json")
        out: list[dict[str, Any]] = []
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(end, chunk_start + self.export_chunk)
            params = {"where": window_where(chunk_start, chunk_end), "order_by": spec.order_by, "timezone": "UTC"}
            rows = self._get(url, params)
            if not isinstance(rows, list):
                raise MalformedPage(f"malformed export from {url}: expected a JSON array", page=rows, url=url)
            out.extend(rows)
            chunk_start = chunk_end
        return out


def _api_error(body: str) -> str | None:
    """``error_code: message`` from an Opendatasoft JSON error body, else None."""
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "error_code" not in parsed:
        return None
    return f"{parsed.get('error_code')}: {parsed.get('message', '')}"


def _results_of(page: Any, url: str) -> list[Any]:
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise MalformedPage(f"malformed page from {url}: expected an object with a 'results' list",
                            page=page, url=url)
    return page["results"]


def _last_time(results: list[Any], url: str) -> datetime:
    last = results[-1].get(TIME_FIELD) if isinstance(results[-1], dict) else None
    moment = parse_utc(last)
    if moment is None:
        raise MalformedPage(f"malformed page from {url}: last row has no usable {TIME_FIELD} ({last!r})",
                            page=results, url=url)
    return moment


# --- parsing ---------------------------------------------------------------------------------

def parse_utc(text: Any) -> datetime | None:
    """``2026-08-27T07:45:00+00:00`` (any offset, or ``Z``) as a naive UTC datetime.

    A stamp without an offset is taken as UTC (the API's default output zone). Strict
    (:func:`~energy_orchestration.model.parse_interval_start`): trailing bytes are refused.
    """
    return parse_interval_start(text)


def canonical_time_text(value: Any) -> str:
    """The key form of a ``date_heure``: UTC with ``+00:00``, so any output zone gives one key."""
    if isinstance(value, str) and len(value) == 25 and value[10] == "T" and value.endswith("+00:00") \
            and parse_utc(value) is not None:
        return value
    moment = parse_utc(value)
    if moment is None:
        return str(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _is_absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().upper() in _ABSENT_STRINGS)


def _status_code(nature: Any, default: int) -> int:
    if isinstance(nature, str):
        text = nature.strip().lower()
        if "temps r" in text:
            return 0
        if "consolid" in text:
            return 1
        if "finitiv" in text:
            return 2
    return default


def _parse_times(texts: list[Any]) -> tuple[np.ndarray, list[str]]:
    """(datetime64[us] array with NaT where unusable, canonical key text per stamp)."""
    if texts and all(isinstance(t, str) and len(t) == 25 and t[10] == "T" and t[16:19] == ":00"
                     and t.endswith("+00:00") for t in texts):
        try:
            return np.array([t[:19] for t in texts], dtype="datetime64[us]"), list(texts)
        except ValueError:
            pass  # a malformed stamp among them: parse one by one below
    times = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[us]")
    keys: list[str] = []
    for position, text in enumerate(texts):
        moment = parse_utc(text)
        if moment is None:
            keys.append(str(text))
        else:
            times[position] = np.datetime64(moment, "us")
            keys.append(moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    return times, keys


def normalise(dataset: str, records: list[Any], now: datetime | None = None) -> NormalisedBatch:
    """Melt éCO2mix records into canonical observations; every refusal carries its rule.

    Column-wise (one numpy array per provider field) because the landing consumer feeds it
    tens of thousands of records per batch.
    """
    spec = DATASETS[dataset]
    now_naive = (now or utc_now()).astimezone(timezone.utc).replace(tzinfo=None)
    latest_allowed = np.datetime64(now_naive + timedelta(minutes=spec.interval_minutes), "us")
    earliest = np.datetime64(EARLIEST_PLAUSIBLE, "us")
    rejections: list[Rejection] = []
    rejected_records: set[int] = set()
    keys = [""] * len(records)
    record_times: list[datetime | None] = [None] * len(records)
    skipped: dict[str, int] = {}

    objects: list[int] = []
    for index, record in enumerate(records):
        if isinstance(record, dict):
            objects.append(index)
        else:
            reject_record(rejections, rejected_records, dataset, "not_an_object", index, "", type(record).__name__)
    dicts = [records[i] for i in objects]
    times, stamp_keys = _parse_times([r.get(TIME_FIELD) for r in dicts])
    regions = [spec.region_code(r) for r in dicts] if spec.regional else None
    as_datetimes = times.astype(object)
    for position, index in enumerate(objects):
        keys[index] = stamp_keys[position] if regions is None else f"{stamp_keys[position]}|{regions[position]}"
        record_times[index] = as_datetimes[position]

    usable = ~np.isnat(times)
    for position in np.flatnonzero(~usable):
        index = objects[position]
        reject_record(rejections, rejected_records, dataset, "missing_time", index, keys[index],
                       dicts[position].get(TIME_FIELD))
    if regions is not None:  # a regional row must name a known region (rule shared with EDS areas)
        unplaced = [code is None or f"{spec.national_zone}-{code}" not in ZONES for code in regions]
        for position in np.flatnonzero(usable & np.array(unplaced, dtype=bool)):
            index = objects[position]
            usable[position] = False
            reject_record(rejections, rejected_records, dataset, "unknown_zone", index, keys[index],
                           dicts[position].get(spec.region_field))

    candidates = np.flatnonzero(usable)
    kept = [dicts[p] for p in candidates]
    column = column_reader(kept, _ABSENT_STRINGS)
    measured = _measured(spec, column, len(kept), skipped)
    starts = times[candidates]
    out_of_range = measured & ((starts < earliest) | (starts > latest_allowed))
    for position in np.flatnonzero(out_of_range):
        index = objects[candidates[position]]
        reject_record(rejections, rejected_records, dataset, "time_out_of_range", index, keys[index],
                      str(starts[position]))
    take = measured & ~out_of_range
    if not take.any():
        return NormalisedBatch(empty_observations(), rejections, rejected_records, keys, record_times, skipped)

    record_index = np.asarray(objects, dtype=np.int64)[candidates]
    status = _status_codes(kept, _STATUS_ORDER.index(spec.default_status))
    zone_labels, zone_codes = _zone_codes(spec, None if regions is None else [regions[p] for p in candidates],
                                          len(kept))

    def zone_at(position: int) -> str:
        return zone_labels[zone_codes[position]]

    melt = Melt()
    for number, mapping in enumerate(spec.mappings):
        col = column(mapping.field)
        values = col.values
        if col.bad is not None:
            reject_not_numbers(rejections, dataset, mapping.field, mapping.quantity, np.flatnonzero(col.bad & take),
                               col.raw, record_index, keys, zone_at)
        if mapping.fallback is not None:
            use = np.isnan(values) & (col.bad is None or ~col.bad)
            for other in mapping.fallback_unless:
                other_col = column(other)
                use &= np.isnan(other_col.values) & (other_col.bad is None or ~other_col.bad)
            fallback = column(mapping.fallback)
            if fallback.bad is not None:
                reject_not_numbers(rejections, dataset, mapping.fallback, mapping.quantity,
                                   np.flatnonzero(fallback.bad & use & take), fallback.raw, record_index, keys, zone_at)
            values = np.where(use, fallback.values, values)
        values = values * mapping.sign + 0.0  # + 0.0 turns -0.0 into 0.0
        rows = reject_violations(rejections, dataset, mapping.field, mapping.quantity, values,
                                 take & ~np.isnan(values), record_index, keys, zone_at)
        melt.keep(number, rows, values)
    frame = observation_frame(
        spec.name, spec.interval_minutes, [(m.quantity, m.unit.value) for m in spec.mappings], melt,
        lambda _, rows: pd.Categorical.from_codes(zone_codes[rows], categories=zone_labels), starts,
        lambda rows: pd.Categorical.from_codes(status[rows], categories=[s.value for s in _STATUS_ORDER]),
        record_index)
    return NormalisedBatch(frame, rejections, rejected_records, keys, record_times, skipped)



def _measured(spec: OdreDataset, column: Callable[[str], NumericColumn], count: int,
              skipped: dict[str, int]) -> np.ndarray:
    """Which records hold a measured value; counts the others in ``skipped`` (``forecast_only``:
    the future rows of the national set, ``no_values``: rows with nothing at all)."""
    measured = np.zeros(count, dtype=bool)
    forecast = np.zeros(count, dtype=bool)
    for mapping in spec.mappings:
        for name in (mapping.field, mapping.fallback):
            if name is None:
                continue
            col = column(name)
            present = ~np.isnan(col.values) if col.bad is None else ~np.isnan(col.values) | col.bad
            if mapping.measured:
                measured |= present
            else:
                forecast |= present
    no_measure = ~measured
    if no_measure.any():
        forecast_only = int((no_measure & forecast).sum())
        empty = int((no_measure & ~forecast).sum())
        if forecast_only:
            skipped["forecast_only"] = forecast_only
        if empty:
            skipped["no_values"] = empty
    return measured


def _status_codes(records: list[dict[str, Any]], default: int) -> np.ndarray:
    """Per record, the index into ``_STATUS_ORDER`` its ``nature`` names (``default`` when it names none)."""
    cache: dict[Any, int] = {}
    status = np.empty(len(records), dtype=np.int8)
    for position, record in enumerate(records):
        nature = record.get("nature")
        code = cache.get(nature) if isinstance(nature, (str, type(None))) else None
        if code is None:
            code = _status_code(nature, default)
            if isinstance(nature, (str, type(None))):
                cache[nature] = code
        status[position] = code
    return status


def _zone_codes(spec: OdreDataset, regions: list[str | None] | None, count: int) -> tuple[list[str], np.ndarray]:
    """Zone labels and, per kept record, its code among them (``regions``: each record's region
    code, None for a national dataset, whose ``count`` records all belong to the national zone)."""
    if regions is None:
        return [spec.national_zone], np.zeros(count, dtype=np.int16)
    labels = sorted({f"{spec.national_zone}-{code}" for code in regions})
    lookup = {label: number for number, label in enumerate(labels)}
    return labels, np.fromiter((lookup[f"{spec.national_zone}-{code}"] for code in regions), dtype=np.int16,
                               count=len(regions))
