"""Parsing steps every provider's ``normalise`` shares: refusing a whole record, reading a
provider column as numbers, turning one mapping's values into rejections and kept rows
(:class:`Melt`), and building the canonical observation frame.

Providers differ in how records name their time and zone; once a record is kept, judging its
values is the same everywhere, so the reasons in the quarantine read the same for every provider.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from energy_orchestration.model import RULES, Rejection, coerce_number, has_booleans, value_violations


def reject_record(rejections: list[Rejection], rejected: set[int], dataset: str, rule: str, index: int,
                  key: str, value: Any) -> None:
    """Refuse record ``index`` whole (nothing of it lands), with ``rule`` and the offending value."""
    rejected.add(index)
    rejections.append(Rejection(dataset=dataset, rule=rule, reason=f"{RULES[rule]}: {value!r}",
                                record_index=index, record_key=key, value=value))


@dataclass
class NumericColumn:
    values: np.ndarray
    """float64; NaN = absent (null, or one of the provider's absent markers) or not a number."""
    bad: np.ndarray | None
    """Positions holding something that is not a number (None when there are none)."""
    raw: list[Any]
    """The column as the provider sent it, for the rejection's value."""


def numeric_column(records: list[dict[str, Any]], name: str,
                   absent_strings: Collection[str] = frozenset()) -> NumericColumn:
    """One provider column as float64, column-wise: the landing consumer feeds tens of thousands
    of records per batch, so only columns holding odd values take the per-value path.

    ``absent_strings`` (compared stripped and upper-cased) are read as null: éCO2mix writes
    ``"ND"`` and ``""`` for a missing value, where for Energi Data Service they are not numbers.
    """
    raw = [r.get(name) for r in records]
    if not has_booleans(raw):
        try:
            return NumericColumn(np.asarray(raw, dtype=np.float64), None, raw)  # numbers, numeric strings, None
        except (TypeError, ValueError):
            pass
    values = np.full(len(raw), np.nan)
    bad = np.zeros(len(raw), dtype=bool)
    absent = frozenset(absent_strings)
    for position, value in enumerate(raw):
        if absent and isinstance(value, str) and value.strip().upper() in absent:
            continue
        try:
            number = coerce_number(value)
        except (TypeError, ValueError):
            bad[position] = True
            continue
        if number is not None:
            values[position] = number
    return NumericColumn(values, bad if bad.any() else None, raw)


def column_reader(records: list[dict[str, Any]],
                  absent_strings: Collection[str] = frozenset()) -> Callable[[str], NumericColumn]:
    """:func:`numeric_column` for ``records``, each column read once however many canonical
    fields it feeds."""
    columns: dict[str, NumericColumn] = {}

    def column(name: str) -> NumericColumn:
        if name not in columns:
            columns[name] = numeric_column(records, name, absent_strings)
        return columns[name]

    return column


def reject_not_numbers(rejections: list[Rejection], dataset: str, column: str, quantity: str,
                       positions: np.ndarray, raw: list[Any], record_index: np.ndarray, keys: list[str],
                       zone_at: Callable[[int], str]) -> None:
    """One ``not_a_number`` rejection per canonical field a bad value would have filled.

    ``positions`` index the kept records (``raw`` and ``record_index``); ``zone_at(position)``
    names the zone the value would have landed in.
    """
    for position in positions:
        index = int(record_index[position])
        value = raw[position]
        rejections.append(Rejection(
            dataset=dataset, rule="not_a_number", reason=f"{RULES['not_a_number']}: {column}={value!r}",
            record_index=index, record_key=keys[index], zone=zone_at(int(position)), quantity=quantity,
            value=value))


def reject_violations(rejections: list[Rejection], dataset: str, column: str, quantity: str,
                      values: np.ndarray, present: np.ndarray, record_index: np.ndarray, keys: list[str],
                      zone_at: Callable[[int], str]) -> np.ndarray:
    """Reject the present values that break a value rule of ``quantity``; returns the positions
    of the values that land (present and not rejected)."""
    present = present.copy()
    for rule, mask, detail in value_violations(quantity, np.where(present, values, 0.0)):
        mask &= present
        for position in np.flatnonzero(mask):
            index = int(record_index[position])
            rejections.append(Rejection(
                dataset=dataset, rule=rule, reason=f"{RULES[rule]}{detail}: {column}={values[position]:g}",
                record_index=index, record_key=keys[index], zone=zone_at(int(position)), quantity=quantity,
                value=float(values[position])))
        present &= ~mask
    return np.flatnonzero(present)


class Melt:
    """The observations a parser keeps, mapping by mapping, joined into one frame at the end."""

    def __init__(self) -> None:
        self._mapping: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._values: list[np.ndarray] = []

    def keep(self, number: int, rows: np.ndarray, values: np.ndarray) -> None:
        """Keep ``values[rows]`` (``rows``: kept-record positions) as observations of mapping ``number``."""
        self._mapping.append(np.full(len(rows), number, dtype=np.int16))
        self._rows.append(rows)
        self._values.append(values[rows])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per observation: its mapping number, its kept-record position and its value."""
        return np.concatenate(self._mapping), np.concatenate(self._rows), np.concatenate(self._values)


def mapping_category(labels: Sequence[str], mapping_of: np.ndarray) -> pd.Categorical:
    """Per observation, the label of the mapping it came from (``labels[mapping_of]``), as a
    categorical: cheap to build, and DuckDB scans integer codes without taking the GIL, so
    landing overlaps with parsing the next batch."""
    categories = sorted(set(labels))
    codes = np.asarray([categories.index(label) for label in labels], dtype=np.int16)
    return pd.Categorical.from_codes(codes[mapping_of], categories=categories)


def observation_frame(dataset: str, interval_minutes: int, mappings: Sequence[tuple[str, str]],
                      melt: Melt, zone: Callable[[np.ndarray, np.ndarray], pd.Categorical], starts: np.ndarray,
                      status: Callable[[np.ndarray], pd.Categorical], record_index: np.ndarray) -> pd.DataFrame:
    """The canonical observation columns (``model.OBSERVATION_COLUMNS`` plus ``record_index``).

    ``mappings`` holds each mapping's (quantity, unit); ``starts`` and ``record_index`` are per
    kept record; ``zone(mapping_of, rows)`` and ``status(rows)`` give each observation's zone and
    status from its mapping number and kept-record position.
    """
    mapping_of, rows, values = melt.arrays()
    return pd.DataFrame({
        "dataset": pd.Categorical.from_codes(np.zeros(len(mapping_of), dtype=np.int8), categories=[dataset]),
        "zone": zone(mapping_of, rows),
        "quantity": mapping_category([q for q, _ in mappings], mapping_of),
        "interval_start_utc": starts[rows],
        "interval_minutes": np.full(len(mapping_of), interval_minutes, dtype=np.int16),
        "value": values,
        "unit": mapping_category([u for _, u in mappings], mapping_of),
        "status": status(rows),
        "record_index": record_index[rows],
    })
