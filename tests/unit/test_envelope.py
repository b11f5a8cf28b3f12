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
