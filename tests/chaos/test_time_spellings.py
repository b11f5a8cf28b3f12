"""The same records sent with every time spelling a provider could use, in separate batches
and mixed within batches, land as one row per (dataset, zone, quantity, interval): 0 duplicates."""

import pytest

from tests.chaos.support import landed_counts, publish_minutes, publish_records_as_is

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SPELLINGS = [lambda t: t, lambda t: t + "Z", lambda t: t + "+00:00", lambda t: t + ".000",
             lambda t: t[:16], lambda t: t + ".000000+00:00"]


def test_every_time_spelling_lands_once(bootstrap, warehouse, land_all):
    records = publish_minutes(bootstrap, 60)
    land_all()  # the plain spelling landed first: later spellings must upsert onto it
    for spell in SPELLINGS[1:]:
        publish_records_as_is(bootstrap, [dict(r, Minutes1UTC=spell(r["Minutes1UTC"])) for r in records])
    # and every spelling mixed in one batch
    publish_records_as_is(bootstrap, [dict(r, Minutes1UTC=SPELLINGS[i % len(SPELLINGS)](r["Minutes1UTC"]))
                                      for i, r in enumerate(records * 2)])
    land_all()
    assert landed_counts(warehouse) == {"raw": 60, "intervals": 60, "duplicates": 0}
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
        keys = db.execute("SELECT count(DISTINCT record_key), min(record_key) FROM raw_records").fetchall()[0]
    assert keys == (60, "2025-06-01T00:00:00")
