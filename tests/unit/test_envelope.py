from datetime import datetime, timezone

import pytest

from energy_orchestration.streaming.envelope import DecodeError, decode, encode

KNOWN = {"PowerSystemRightNow"}


def test_round_trip_keeps_the_record_untouched(psrn_records):
    fetched = datetime(2026, 4, 8, 21, 31, 5, 123456, tzinfo=timezone.utc)
    envelope = decode(encode("energidataservice", "PowerSystemRightNow", psrn_records[0], fetched), KNOWN)
    assert envelope.record == psrn_records[0]
    assert envelope.dataset == "PowerSystemRightNow" and envelope.provider == "energidataservice"
    assert envelope.fetched_at_utc == datetime(2026, 4, 8, 21, 31, 5, 123456)


@pytest.mark.parametrize("payload, reason", [
    (None, "tombstone"),
    (b"\xff\xfe not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"schema": "other"}', "unknown schema"),
    (b'{"schema": "energy.raw-record", "v": 2}', "unsupported envelope version 2"),
    (b'{"schema": "energy.raw-record", "v": 1, "dataset": "Nope"}', "unknown dataset 'Nope'"),
    (b'{"schema": "energy.raw-record", "v": 1, "dataset": "PowerSystemRightNow", "fetched_at": "x"}', "bad fetched_at"),
    (b'{"schema": "energy.raw-record", "v": 1, "dataset": "PowerSystemRightNow", '
     b'"fetched_at": "2026-01-01T00:00:00.000000Z"}', "no 'record'"),
])
def test_undecodable_messages_say_why(payload, reason):
    with pytest.raises(DecodeError, match=reason):
        decode(payload, KNOWN)


def test_the_spliced_envelope_is_the_same_bytes_as_the_whole_document(psrn_records):
    """``encoder`` builds the envelope once per fetch: what a consumer reads must not change."""
    import orjson

    from energy_orchestration.streaming.envelope import SCHEMA, VERSION, encoder

    fetched = datetime(2026, 4, 8, 21, 31, 5, 123456, tzinfo=timezone.utc)
    encode_record = encoder("energidataservice", "PowerSystemRightNow", fetched)
    for record in [*psrn_records[:3], {"nested": {"ø": [1, None, 2.5]}}, {}]:
        whole = orjson.dumps({"schema": SCHEMA, "v": VERSION, "provider": "energidataservice",
                              "dataset": "PowerSystemRightNow", "fetched_at": "2026-04-08T21:31:05.123456Z",
                              "record": record})
        assert encode_record(record) == whole
        assert decode(encode_record(record), KNOWN).record == record
