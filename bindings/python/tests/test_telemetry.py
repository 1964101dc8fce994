"""Telemetry: parse, validate, encode (JSON and line protocol), time, ids."""

import datetime as dt
import json
import pickle

import pytest

import fleet

FULL = ('{"v":1,"vehicle_id":"v-001","ts":"2026-05-21T10:30:00Z","lat":23.8103,"lng":90.4125,'
        '"speed":45.2,"heading":180,"ignition":true,"odometer":123456.7,"battery_v":12.4,'
        '"engine_temp":88.5,"fuel_level":63.0,"driver_id":"D-0042","rpm":2100,"door_open":false}')
TS = 1779359400000000000  # 2026-05-21T10:30:00Z: (20594 days * 86400 + 37800 s) * 1e9


def test_parse_full_payload_attributes():
    rec = fleet.parse(FULL)
    assert isinstance(rec, fleet.Telemetry)
    assert rec.vehicle_id == "v-001"
    assert rec.ts_ns == TS
    assert rec.ts == dt.datetime(2026, 5, 21, 10, 30, tzinfo=dt.timezone.utc)
    assert rec.time == "2026-05-21T10:30:00Z"
    assert (rec.lat, rec.lng) == (23.8103, 90.4125)
    assert rec.speed == 45.2 and rec.heading == 180.0
    assert rec.ignition is True
    assert rec.odometer == 123456.7 and rec.battery_v == 12.4
    assert rec.engine_temp == 88.5 and rec.fuel_level == 63.0
    assert rec.driver_id == "D-0042"
    assert rec.extras == {"rpm": 2100.0, "door_open": False}
    assert rec.warnings == []


def test_parse_minimal_payload_has_none_for_absent_fields():
    rec = fleet.parse('{"v":1,"ts":"2026-05-21T10:30:02.250Z","lat":23.7806,"lng":90.2794}')
    assert rec.vehicle_id == ""
    assert rec.ts_ns == TS + 2_250_000_000
    for name in ("speed", "heading", "ignition", "odometer", "battery_v", "engine_temp",
                 "fuel_level", "driver_id"):
        assert getattr(rec, name) is None
    assert rec.extras == {}


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_parse_accepts_text_and_buffers(kind):
    data = FULL if kind is str else kind(FULL.encode())
    assert fleet.parse(data) == fleet.parse(FULL)


def test_parse_drops_bad_optional_fields_with_warnings():
    rec = fleet.parse('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2,"speed":-3,'
                      '"heading":400,"_x":1}')
    assert rec.speed is None and rec.heading is None
    assert len(rec.warnings) == 3
    assert rec.warnings[0].startswith("speed: -3")
    assert rec.warnings[1].startswith("heading: 400")
    assert '"_x"' in rec.warnings[2]
    assert rec.extras == {}


def test_parse_vehicle_id_override_is_checked():
    rec = fleet.parse(FULL, vehicle_id="truck-17")
    assert rec.vehicle_id == "truck-17"
    with pytest.raises(fleet.InvalidArgument):
        fleet.parse(FULL, vehicle_id="bad id")


@pytest.mark.parametrize("payload,cls,message", [
    ("not json", fleet.ParseError, "payload: invalid JSON"),
    ("[1,2]", fleet.ParseError, "expected a JSON object"),
    ('{"v":1,"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2}', fleet.ParseError, "duplicate"),
    ('{"v":2,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2}', fleet.VersionError, "v: "),
    ('{"v":1,"lat":1,"lng":2}', fleet.MissingError, "ts"),
    ('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":"1","lng":2}', fleet.WrongTypeError, "lat"),
    ('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":181}', fleet.RangeError, "lng: 181"),
    ('{"v":1,"ts":"2026-02-30T10:30:00Z","lat":1,"lng":2}', fleet.RangeError, "ts"),
    ('{"v":1,"ts":"yesterday","lat":1,"lng":2}', fleet.ParseError, "ts"),
    ('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2,"a":{"b":{"c":{"d":{"e":1}}}}}',
     fleet.TooBigError, "deep"),
])
def test_parse_rejections(payload, cls, message):
    with pytest.raises(cls) as info:
        fleet.parse(payload)
    assert message in str(info.value)


def test_parse_rejects_oversize_payload():
    big = '{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2,"pad":"%s"}' % ("x" * 4096)
    with pytest.raises(fleet.TooBigError, match="over the limit of 4096"):
        fleet.parse(big)


def test_parse_rejects_non_text():
    with pytest.raises(fleet.WrongTypeError):
        fleet.parse(42)


def test_to_dict_views():
    rec = fleet.parse(FULL)
    d = rec.to_dict()
    assert d == {"vehicle_id": "v-001", "ts": "2026-05-21T10:30:00Z", "lat": 23.8103,
                 "lng": 90.4125, "speed": 45.2, "heading": 180.0, "ignition": True,
                 "odometer": 123456.7, "battery_v": 12.4, "engine_temp": 88.5,
                 "fuel_level": 63.0, "driver_id": "D-0042", "rpm": 2100.0, "door_open": False}
    assert rec.to_dict(ts="ns")["ts"] == TS
    assert rec.to_dict(ts="datetime")["ts"] == rec.ts
    with pytest.raises(ValueError):
        rec.to_dict(ts="epoch")
    d["lat"] = 0.0
    assert rec.lat == 23.8103  # a copy


def test_json_round_trip_is_exact():
    rec = fleet.parse(FULL)
    text = rec.to_json()
    assert json.loads(text)["vehicle_id"] == "v-001"
    assert fleet.parse(text) == rec
    assert "vehicle_id" not in rec.to_json(include_vehicle_id=False)
    assert fleet.encode_json(rec) == text


def test_line_protocol_of_a_record():
    rec = fleet.parse('{"v":1,"vehicle_id":"v-001","ts":"2026-05-21T10:30:00Z",'
                      '"lat":23.8103,"lng":90.4125,"speed":45.2}')
    assert rec.to_line() == ("telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=45.2 "
                             "1779359400000000000\n")
    assert rec.to_line("m", {"fleet_id": "f 1", "device_type": None}) == (
        "m,fleet_id=f\\ 1,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=45.2 "
        "1779359400000000000\n")
    rec.vehicle_id = ""
    with pytest.raises(fleet.InvalidArgument):
        rec.to_line()


def test_generic_line_protocol():
    line = fleet.line("cpu load", {"f": 1.5, "i": -3, "b": True, "s": 'say "hi"'},
                      {"z": "b", "a": "x,y"}, ts=5)
    assert line == 'cpu\\ load,a=x\\,y,z=b f=1.5,i=-3i,b=true,s="say \\"hi\\"" 5\n'
    assert fleet.line("m", {"v": 1.0}, ts="1970-01-01T00:00:01Z") == "m v=1 1000000000\n"
    with pytest.raises(fleet.RangeError):
        fleet.line("m", {"v": float("nan")})
    with pytest.raises(fleet.InvalidArgument):
        fleet.line("m", {})
    with pytest.raises(fleet.InvalidArgument):
        fleet.line("m", {"v": 1}, {"t": ""})
    with pytest.raises(fleet.InvalidArgument):
        fleet.line("m", {"v": "a\nb"})


def test_records_built_in_code():
    rec = fleet.Telemetry("v-9", "2026-05-21T10:30:00.5Z", 10.0, 20.0, speed=12.5,
                          ignition=False, extras={"rpm": 900, "door": True})
    assert rec.ts_ns == TS + 500_000_000
    rec.validate()
    back = fleet.parse(rec.to_json())
    assert back == rec
    assert back.extras == {"rpm": 900.0, "door": True}
    same = fleet.Telemetry("v-9", dt.datetime(2026, 5, 21, 10, 30, 0, 500000), 10.0, 20.0,
                           speed=12.5, ignition=False, extras={"rpm": 900, "door": True})
    assert same == rec
    rec.ts = TS
    assert rec.time == "2026-05-21T10:30:00Z"


@pytest.mark.parametrize("change,cls", [
    ({"lat": 91.0}, fleet.RangeError),
    ({"lng": float("inf")}, fleet.RangeError),
    ({"vehicle_id": "a b"}, fleet.InvalidArgument),
    ({"vehicle_id": "x" * 65}, fleet.InvalidArgument),
    ({"speed": -1.0}, fleet.RangeError),
    ({"extras": {"speed": 1.0}}, fleet.InvalidArgument),
    ({"extras": {"bad name": 1.0}}, fleet.InvalidArgument),
    ({"extras": {"x%d" % i: 1.0 for i in range(17)}}, fleet.TooBigError),
    ({"lat": "north"}, fleet.WrongTypeError),
    ({"ignition": 2}, fleet.WrongTypeError),
    ({"extras": [1]}, fleet.WrongTypeError),
    ({"ts_ns": 1.5}, fleet.WrongTypeError),
    ({"ts_ns": 2**70}, fleet.RangeError),
])
def test_validate_rejects(change, cls):
    rec = fleet.Telemetry("v-1", TS, 1.0, 2.0)
    for name, value in change.items():
        setattr(rec, name, value)
    with pytest.raises(cls):
        rec.validate()
    with pytest.raises(cls):
        fleet.validate(rec)


def test_from_dict_and_dict_records():
    payload = json.loads(FULL)
    rec = fleet.Telemetry.from_dict(payload)
    assert rec == fleet.parse(FULL)
    fleet.validate({"vehicle_id": "v-1", "ts": "2026-05-21T10:30:00Z", "lat": 1.0, "lng": 2.0})
    with pytest.raises(fleet.MissingError):
        fleet.validate({"vehicle_id": "v-1", "lat": 1.0, "lng": 2.0})
    with pytest.raises(fleet.MissingError):
        fleet.validate({"ts_ns": 0, "lng": 2.0})


def test_record_equality_copy_repr_pickle():
    a = fleet.parse(FULL)
    b = a.copy()
    assert a == b and a is not b
    b.extras["rpm"] = 1.0
    assert a.extras["rpm"] == 2100.0
    assert a != b
    assert repr(a).startswith("Telemetry(vehicle_id='v-001', ts='2026-05-21T10:30:00Z'")
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(TypeError):
        hash(a)


def test_time_parse_and_format():
    assert fleet.parse_time("2026-05-21T12:30:00.123456789+02:00") == TS + 123456789
    assert fleet.format_time(TS + 123456789) == "2026-05-21T10:30:00.123456789Z"
    assert fleet.format_time(TS + 123000000) == "2026-05-21T10:30:00.123Z"
    assert fleet.format_time(-1) == "1969-12-31T23:59:59.999999999Z"
    assert fleet.to_ns("1970-01-01T00:00:00Z") == 0
    assert fleet.to_ns(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc)) == 10**9
    assert fleet.from_ns(10**9 + 1500) == dt.datetime(1970, 1, 1, 0, 0, 1, 1,
                                                      tzinfo=dt.timezone.utc)
    with pytest.raises(fleet.ParseError):
        fleet.parse_time("21/05/2026")
    with pytest.raises(fleet.RangeError):
        fleet.parse_time("1900-02-29T00:00:00Z")
    with pytest.raises(TypeError):
        fleet.to_ns(1.5)
    with pytest.raises(TypeError):
        fleet.to_ns(True)


def test_vehicle_ids_and_topics():
    fleet.validate_vehicle_id("v-001")
    assert fleet.is_vehicle_id("a.b_c-9")
    assert not fleet.is_vehicle_id("")
    assert not fleet.is_vehicle_id("x" * 65)
    with pytest.raises(fleet.InvalidArgument, match="vehicle"):
        fleet.validate_vehicle_id("v/1")
    assert fleet.topic_vehicle_id("fleet/v-001/telemetry") == "v-001"
    assert fleet.topic_vehicle_id("fleet/v-001/alerts", "alerts") == "v-001"
    with pytest.raises(fleet.ParseError):
        fleet.topic_vehicle_id("fleet/v-001/alerts", "telemetry")
    with pytest.raises(fleet.ParseError):
        fleet.topic_vehicle_id("other/v-001/telemetry")
    with pytest.raises(fleet.InvalidArgument):
        fleet.topic_vehicle_id("fleet/bad id/telemetry")


def test_read_jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2}\n\n'
                    'garbage\n'
                    '{"v":1,"vehicle_id":"v-2","ts":"2026-05-21T10:30:01Z","lat":1,"lng":2}\n')
    with pytest.raises(fleet.ParseError, match="^line 3: "):
        list(fleet.read_jsonl(str(path)))
    recs = list(fleet.read_jsonl(str(path), vehicle_id="v-1", errors="skip"))
    assert [r.vehicle_id for r in recs] == ["v-1", "v-2"]
    with open(path, "rb") as f:
        assert len(list(fleet.read_jsonl(f, errors="skip"))) == 2
    with pytest.raises(ValueError):
        list(fleet.read_jsonl(str(path), errors="ignore"))


def test_version():
    assert fleet.__version__ == fleet.version_string()
    major, minor, patch = (int(x) for x in fleet.__version__.split("."))
    assert fleet.version() == major * 10000 + minor * 100 + patch
