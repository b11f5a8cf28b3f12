"""Energi Data Service (Energinet, Denmark): client and parser.

Contract notes: docs/sources.md. The client always asks for a UTC window (``timezone=UTC``),
sorted ascending, with ``limit=0`` so one window costs one request — the service allows one
request per dataset per minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from energy_orchestration.model import (
    EARLIEST_PLAUSIBLE,
    DataStatus,
    NormalisedBatch,
    Rejection,
    Unit,
    canonical_time_key,
    empty_observations,
    parse_interval_start,
    utc_now,
)
from energy_orchestration.sources.http import MalformedPage, NotYetPublished, PoliteSession
from energy_orchestration.sources.normalise import (
    Melt,
    column_reader,
    observation_frame,
    reject_not_numbers,
    reject_record,
    reject_violations,
)

PROVIDER = "energidataservice"
LIVE_BASE_URL = "https://api.energidataservice.dk"

RECORD_ZONE = ""
"""``ColumnMapping.zone`` meaning "the zone named by the record's own zone column" (``DK-<PriceArea>``)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Where one provider column lands in the canonical vocabulary.

    ``zone`` is a canonical zone, or :data:`RECORD_ZONE` for datasets with one row per price
    area. ``only_zone`` restricts a mapping to records of that zone (``""`` = every record),
    for columns whose meaning depends on the area (the Great Belt link is ``exchange_dk2`` in a
    DK1 row and ``exchange_dk1`` in a DK2 row).
    """

    column: str
    zone: str
    quantity: str
    unit: Unit = Unit.MW
    sign: float = 1.0
    only_zone: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    time_column: str
    interval_minutes: int
    key_columns: tuple[str, ...]
    mappings: tuple[ColumnMapping, ...]
    status: DataStatus = DataStatus.REALTIME
    zone_column: str | None = None
    """Column naming the price area, for datasets with one row per area."""
    price_areas: tuple[str, ...] = ()
    """Values of ``zone_column`` that name a known zone (``DK-<value>``); any other value,
    or none, rejects the record whole (rule ``unknown_zone``)."""
    fixed_zone: str = "DK"
    """Message key for datasets whose rows cover all of Denmark."""
    publication_lag_minutes: int = 0
    """The service publishes an interval as soon as it ends."""

    def __post_init__(self) -> None:
        per_record = [m.column for m in self.mappings if m.zone == RECORD_ZONE or m.only_zone]
        if per_record and (self.zone_column is None or not self.price_areas):
            raise ValueError(f"{self.name}: mappings {per_record} need a zone_column and price_areas")
        unknown = {m.only_zone for m in self.mappings if m.only_zone} - set(self.area_zones)
        if unknown:
            raise ValueError(f"{self.name}: only_zone {sorted(unknown)} is not one of {self.area_zones}")

    @property
    def records_per_interval(self) -> int:
        """One row per price area, or one for all of Denmark."""
        return len(self.price_areas) if self.zone_column else 1

    def requests_for(self, intervals: int) -> int:
        """The client asks with ``limit=0``: any window costs one request."""
        return 1

    @property
    def area_zones(self) -> tuple[str, ...]:
        """Canonical zone of each entry of ``price_areas``, in the same order."""
        return tuple(f"DK-{area}" for area in self.price_areas)

    def record_key(self, record: dict[str, Any], moment: datetime | None = None) -> str:
        """The natural key: the parsed UTC interval start (one text for every spelling of it),
        then the other key columns. Unparseable times keep their text (the record is refused)."""
        text = record.get(self.time_column)
        moment = moment or parse_utc(text)
        stamp = canonical_time_key(moment, text) if moment is not None else str(text)
        if len(self.key_columns) == 1:
            return stamp
        return "|".join(stamp if c == self.time_column else str(record.get(c)) for c in self.key_columns)

    def message_zone(self, record: dict[str, Any]) -> str:
        if self.zone_column is None:
            return self.fixed_zone
        return f"DK-{record.get(self.zone_column)}"

    def known_field(self, name: str) -> bool:
        """Fields of the dataset's contract (mapped or deliberately unused); others are schema drift."""
        return name in self._known_fields

    @property
    def _known_fields(self) -> frozenset[str]:
        local_time = self.time_column[:-3] + "DK"  # Minutes1UTC -> Minutes1DK
        return frozenset({self.time_column, local_time, *self.key_columns, *(m.column for m in self.mappings),
                          *([self.zone_column] if self.zone_column else [])})

    def normalise(self, records: list[Any], now: datetime | None = None) -> NormalisedBatch:
        return normalise(self.name, records, now)

    @property
    def provider(self) -> str:
        return PROVIDER


def _m(column: str, zone: str, quantity: str, unit: Unit = Unit.MW, sign: float = 1.0,
       only_zone: str = "") -> ColumnMapping:
    return ColumnMapping(column, zone, quantity, unit, sign, only_zone)


# PowerSystemRightNow has one row per minute for all of Denmark. Production and CO2 are
# national; links and balancing are split by price area. Exchange columns are already
# "import into Denmark positive". Exchange_DK1_DK2 is the Great Belt link seen from DK1
# (positive = into DK1), so DK2 sees it with the opposite sign.
POWER_SYSTEM_RIGHT_NOW = DatasetSpec(
    name="PowerSystemRightNow",
    time_column="Minutes1UTC",
    interval_minutes=1,
    key_columns=("Minutes1UTC",),
    mappings=(
        _m("CO2Emission", "DK", "co2_intensity_reported", Unit.G_CO2_PER_KWH),
        _m("ProductionGe100MW", "DK", "production_thermal_other"),
        _m("ProductionLt100MW", "DK", "production_unknown"),
        _m("SolarPower", "DK", "production_solar"),
        _m("OffshoreWindPower", "DK", "production_wind_offshore"),
        _m("OnshoreWindPower", "DK", "production_wind_onshore"),
        _m("Exchange_Sum", "DK", "exchange_net"),
        _m("Exchange_DK1_DE", "DK-DK1", "exchange_de"),
        _m("Exchange_DK1_NL", "DK-DK1", "exchange_nl"),
        _m("Exchange_DK1_GB", "DK-DK1", "exchange_gb"),
        _m("Exchange_DK1_NO", "DK-DK1", "exchange_no"),
        _m("Exchange_DK1_SE", "DK-DK1", "exchange_se"),
        _m("Exchange_DK1_DK2", "DK-DK1", "exchange_dk2"),
        _m("Exchange_DK1_DK2", "DK-DK2", "exchange_dk1", sign=-1.0),
        _m("Exchange_DK2_DE", "DK-DK2", "exchange_de"),
        _m("Exchange_DK2_SE", "DK-DK2", "exchange_se"),
        _m("Exchange_Bornholm_SE", "DK-DK2", "exchange_bornholm_se"),
        _m("aFRR_ActivatedDK1", "DK-DK1", "balancing_afrr_activated"),
        _m("aFRR_ActivatedDK2", "DK-DK2", "balancing_afrr_activated"),
        _m("mFRR_ActivatedDK1", "DK-DK1", "balancing_mfrr_activated"),
        _m("mFRR_ActivatedDK2", "DK-DK2", "balancing_mfrr_activated"),
        _m("ImbalanceDK1", "DK-DK1", "balancing_imbalance"),
        _m("ImbalanceDK2", "DK-DK2", "balancing_imbalance"),
    ),
)

# CO2Emis: one row per 5 minutes and price area (DK1, DK2), CO2 intensity of that area.
CO2_EMIS = DatasetSpec(
    name="CO2Emis",
    time_column="Minutes5UTC",
    interval_minutes=5,
    key_columns=("Minutes5UTC", "PriceArea"),
    zone_column="PriceArea",
    price_areas=("DK1", "DK2"),
    mappings=(
        _m("CO2Emission", RECORD_ZONE, "co2_intensity_reported", Unit.G_CO2_PER_KWH),
    ),
)

# ElectricityProdex5MinRealtime: one row per 5 minutes and price area, production and links of
# that area; links an area does not have are null (DK1: BornholmSE4; DK2: NL, GB, NO).
# ExchangeGreatBelt sign, checked on the recorded 2025-02-21 response: in all 50 timestamps the
# DK1 and DK2 rows hold exactly opposite values (DK1 -302.589996, DK2 +302.589996 at 19:10 UTC),
# so each row already reads "import into this row's area positive", like every other exchange
# column: no sign flip, only the counterpart differs (DK1 row -> exchange_dk2, DK2 row ->
# exchange_dk1).
ELECTRICITY_PRODEX_5MIN = DatasetSpec(
    name="ElectricityProdex5MinRealtime",
    time_column="Minutes5UTC",
    interval_minutes=5,
    key_columns=("Minutes5UTC", "PriceArea"),
    zone_column="PriceArea",
    price_areas=("DK1", "DK2"),
    mappings=(
        _m("ProductionLt100MW", RECORD_ZONE, "production_unknown"),
        _m("ProductionGe100MW", RECORD_ZONE, "production_thermal_other"),
        _m("OffshoreWindPower", RECORD_ZONE, "production_wind_offshore"),
        _m("OnshoreWindPower", RECORD_ZONE, "production_wind_onshore"),
        _m("SolarPower", RECORD_ZONE, "production_solar"),
        _m("ExchangeGreatBelt", RECORD_ZONE, "exchange_dk2", only_zone="DK-DK1"),
        _m("ExchangeGreatBelt", RECORD_ZONE, "exchange_dk1", only_zone="DK-DK2"),
        _m("ExchangeGermany", RECORD_ZONE, "exchange_de"),
        _m("ExchangeNetherlands", RECORD_ZONE, "exchange_nl"),
        _m("ExchangeGreatBritain", RECORD_ZONE, "exchange_gb"),
        _m("ExchangeNorway", RECORD_ZONE, "exchange_no"),
        _m("ExchangeSweden", RECORD_ZONE, "exchange_se"),
        _m("BornholmSE4", RECORD_ZONE, "exchange_bornholm_se"),
    ),
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (POWER_SYSTEM_RIGHT_NOW, CO2_EMIS, ELECTRICITY_PRODEX_5MIN)
}


def format_utc_minute(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")


@dataclass
class EnergiDataServiceClient:
    base_url: str = LIVE_BASE_URL
    http: PoliteSession = field(default_factory=PoliteSession)

    def fetch_window(self, dataset: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """All records with ``start <= time < end`` (UTC), oldest first, in one request.

        Raises :class:`NotYetPublished` when the service has nothing for the window: the
        caller must not treat that window as done.
        """
        spec = DATASETS[dataset]
        params = {"start": format_utc_minute(start), "end": format_utc_minute(end), "timezone": "UTC",
                  "sort": spec.time_column, "limit": 0}
        url = f"{self.base_url.rstrip('/')}/dataset/{dataset}"
        page = self.http.get_json(url, params)
        records = _records_of(page, url)
        total = page.get("total")
        if isinstance(total, int) and total > len(records):
            records.extend(self._remaining_pages(url, params, offset=len(records), total=total))
        if not records:
            raise NotYetPublished(f"{dataset} has no rows yet for {params['start']}..{params['end']} UTC", url=url)
        return records

    def _remaining_pages(self, url: str, params: dict[str, Any], offset: int, total: int) -> list[dict[str, Any]]:
        """The service caps a page below ``total`` only on huge windows; walk the offset then."""
        out: list[dict[str, Any]] = []
        while offset < total:
            page = self.http.get_json(url, {**params, "offset": offset, "limit": 100_000})
            records = _records_of(page, url)
            if not records:
                break
            out.extend(records)
            offset += len(records)
        return out


def _records_of(page: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(page, dict) or not isinstance(page.get("records"), list):
        raise MalformedPage(f"malformed page from {url}: expected an object with a 'records' list",
                            page=page, url=url)
    return page["records"]


# --- parsing ---------------------------------------------------------------------------------

def parse_utc(text: Any) -> datetime | None:
    """``2026-04-08T21:30:00`` (no zone; the API's ...UTC columns) as a naive UTC datetime;
    other spellings of the instant give the same value (:func:`~energy_orchestration.model.parse_interval_start`)."""
    return parse_interval_start(text)


def normalise(dataset: str, records: list[Any], now: datetime | None = None) -> NormalisedBatch:
    """Melt provider records into canonical observations; every refusal carries its rule.

    Works column-wise (one numpy array per provider column) because the landing consumer
    feeds it tens of thousands of records per batch. For datasets with one row per price area,
    the zone of a record is looked up once per record (a small integer code) and spread over
    its observations with numpy.
    """
    spec = DATASETS[dataset]
    area_codes = {area: code for code, area in enumerate(spec.price_areas)} if spec.zone_column else None
    zones: list[int] = []
    now_naive = (now or utc_now()).astimezone(timezone.utc).replace(tzinfo=None)
    latest_allowed = now_naive + timedelta(minutes=spec.interval_minutes)
    rejections: list[Rejection] = []
    rejected_records: set[int] = set()
    keys: list[str] = []
    record_times: list[datetime | None] = []
    times: list[datetime] = []
    good: list[int] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            keys.append("")
            record_times.append(None)
            reject_record(rejections, rejected_records, dataset, "not_an_object", index, "", type(record).__name__)
            continue
        moment = parse_utc(record.get(spec.time_column))
        key = spec.record_key(record, moment)
        keys.append(key)
        record_times.append(moment)
        if moment is None:
            reject_record(rejections, rejected_records, dataset, "missing_time", index, key,
                           record.get(spec.time_column))
        elif moment < EARLIEST_PLAUSIBLE or moment > latest_allowed:
            reject_record(rejections, rejected_records, dataset, "time_out_of_range", index, key, moment.isoformat())
        elif area_codes is not None:
            area = record.get(spec.zone_column)
            code = area_codes.get(area) if isinstance(area, str) else None
            if code is None:
                reject_record(rejections, rejected_records, dataset, "unknown_zone", index, key, area)
            else:
                good.append(index)
                times.append(moment)
                zones.append(code)
        else:
            good.append(index)
            times.append(moment)
    if not good:
        return NormalisedBatch(empty_observations(), rejections, rejected_records, keys, record_times)

    kept = [records[i] for i in good]
    record_index = np.asarray(good, dtype=np.int64)
    starts = np.asarray(times, dtype="datetime64[us]")
    record_zones = np.asarray(zones, dtype=np.int16) if area_codes is not None else None
    area_zones = spec.area_zones
    column_of = column_reader(kept)
    melt = Melt()
    for number, mapping in enumerate(spec.mappings):
        column = column_of(mapping.column)
        values = column.values * mapping.sign + 0.0  # + 0.0 turns -0.0 into 0.0
        applies = (record_zones == area_zones.index(mapping.only_zone)) if mapping.only_zone else None
        if applies is not None:  # other areas' records do not carry this quantity: as if null
            values = np.where(applies, values, np.nan)

        def zone_at(position: int, mapping: ColumnMapping = mapping) -> str:
            return mapping.zone or area_zones[record_zones[position]]

        if column.bad is not None:  # one rejection per canonical field the bad value would have filled
            reject_not_numbers(rejections, dataset, mapping.column, mapping.quantity,
                               np.flatnonzero(column.bad if applies is None else column.bad & applies),
                               column.raw, record_index, keys, zone_at)
        rows = reject_violations(rejections, dataset, mapping.column, mapping.quantity, values, ~np.isnan(values),
                                 record_index, keys, zone_at)
        melt.keep(number, rows, values)
    frame = observation_frame(
        spec.name, spec.interval_minutes, [(m.quantity, m.unit.value) for m in spec.mappings], melt,
        lambda mapping_of, rows: _zone_category(spec, mapping_of, rows, record_zones), starts,
        lambda rows: pd.Categorical.from_codes(np.zeros(len(rows), dtype=np.int8), categories=[spec.status.value]),
        record_index)
    return NormalisedBatch(frame, rejections, rejected_records, keys, record_times)


def _zone_category(spec: DatasetSpec, mapping: np.ndarray, rows: np.ndarray,
                   record_zones: np.ndarray | None) -> pd.Categorical:
    """Per observation, its zone: the mapping's own, or, for mappings saying :data:`RECORD_ZONE`,
    the record's (``record_zones`` holds, per kept record, the index into ``spec.area_zones``)."""
    fixed = [m.zone for m in spec.mappings if m.zone != RECORD_ZONE]
    per_record = len(fixed) < len(spec.mappings)
    categories = sorted(set(fixed) | (set(spec.area_zones) if per_record else set()))
    by_mapping = np.asarray([-1 if m.zone == RECORD_ZONE else categories.index(m.zone) for m in spec.mappings],
                            dtype=np.int16)
    codes = by_mapping[mapping]
    if per_record:
        by_area = np.asarray([categories.index(z) for z in spec.area_zones], dtype=np.int16)
        from_record = codes < 0
        codes[from_record] = by_area[record_zones[rows[from_record]]]
    return pd.Categorical.from_codes(codes, categories=categories)
