"""InfluxDB configuration, writer and reader without a server (the
end-to-end tests against influxd are in test_integration.py)."""

import pytest

import fleet
from fleet import influx


def test_config_defaults_and_members():
    c = fleet.InfluxConfig(database="db")
    assert c.to_dict() == {
        "url": "http://127.0.0.1:8086", "api": "v1", "database": "db", "retention_policy": "",
        "org": "", "token": "", "username": "", "password": "", "auth": "auto",
        "ca_file": "", "insecure": False, "timeout_ms": 10000, "connect_timeout_ms": 3000}
    c.validate()
    c.api = "v3"
    assert c.api == "v3"
    with pytest.raises(AttributeError):
        c.bogus = 1
    with pytest.raises(TypeError, match="bogus"):
        fleet.InfluxConfig(bogus=1)
    assert fleet.InfluxConfig(database="db") == fleet.InfluxConfig(database="db")


def test_config_repr_hides_secrets():
    text = repr(fleet.InfluxConfig(database="db", token="t0ps3cret", password="pw123"))
    assert "t0ps3cret" not in text and "pw123" not in text and "token='***'" in text


@pytest.mark.parametrize("members,cls,text", [
    ({"api": "v2", "database": "b"}, fleet.MissingError, "org"),
    ({"database": ""}, fleet.MissingError, "database"),
    ({"database": "d", "url": "ftp://x"}, fleet.InvalidArgument, "url"),
    ({"database": "d", "auth": "bearer"}, fleet.MissingError, "token"),
])
def test_config_validation(members, cls, text):
    with pytest.raises(cls, match=text):
        fleet.InfluxConfig(**members).validate()


@pytest.mark.parametrize("members,cls", [
    ({"api": "v9"}, fleet.InvalidArgument),
    ({"url": "x" * 2000}, fleet.TooBigError),
    ({"timeout_ms": -1}, fleet.RangeError),
    ({"insecure": "yes"}, fleet.WrongTypeError),
])
def test_config_member_errors(members, cls):
    with pytest.raises(cls):
        fleet.InfluxConfig(database="d", **members).validate()


def test_config_from_environment(monkeypatch, tmp_path):
    token = tmp_path / "token"
    token.write_text("abc123\n")
    monkeypatch.setenv("FLEET_INFLUX_URL", "https://influx.example:8181")
    monkeypatch.setenv("FLEET_INFLUX_API", "v3")
    monkeypatch.setenv("FLEET_INFLUX_DB", "telemetry_raw")
    monkeypatch.setenv("FLEET_INFLUX_TOKEN_FILE", str(token))
    c = fleet.InfluxConfig.from_env(timeout_ms=500)
    assert (c.url, c.api, c.database, c.token, c.timeout_ms) == (
        "https://influx.example:8181", "v3", "telemetry_raw", "abc123", 500)
    monkeypatch.setenv("MY_DB", "other")
    assert fleet.InfluxConfig.from_env("MY_").database == "other"
    monkeypatch.setenv("FLEET_INFLUX_API", "v7")
    with pytest.raises(fleet.InvalidArgument, match="FLEET_INFLUX_API"):
        fleet.InfluxConfig.from_env()


def test_writer_spools_what_it_cannot_deliver(closed_port, tmp_path):
    cfg = fleet.InfluxConfig(url="http://127.0.0.1:%d" % closed_port, database="db",
                             connect_timeout_ms=200, timeout_ms=500)
    logs = []
    rec = fleet.Telemetry("v-1", "2026-05-21T10:30:00Z", 1.0, 2.0, speed=3.0)
    with fleet.InfluxWriter(cfg, spool_dir=str(tmp_path / "spool"), retry_initial_ms=50,
                            flush_interval_ms=20, on_log=lambda lvl, msg: logs.append((lvl, msg)),
                            close_timeout=0.2) as w:
        assert w.write(rec, tags={"fleet_id": "f1"}) == 1
        assert w.write([rec, rec.copy()]) == 2
        w.write_lines("m v=1 1\nm v=2 2\n")
        with pytest.raises(fleet.TimedOutError, match="not everything delivered"):
            w.flush(timeout=0.3)
        stats = w.stats()
        assert stats["points_enqueued"] == 5 and stats["points_written"] == 0
        assert stats["net_errors"] >= 1 and stats["healthy"] is False
    # Closing spooled everything: nothing lost, nothing raised.
    assert w.closed
    with pytest.raises(fleet.ClosedError):
        w.write_lines("m v=3 3")
    assert any(lvl in ("warning", "error") for lvl, _ in logs)
    # The next writer finds the spool.
    w2 = fleet.InfluxWriter(cfg, spool_dir=str(tmp_path / "spool"))
    assert w2.stats()["spool_records"] >= 1
    w2.close(timeout=0)


def test_writer_without_spool_reports_loss(closed_port):
    cfg = fleet.InfluxConfig(url="http://127.0.0.1:%d" % closed_port, database="db",
                             connect_timeout_ms=200)
    w = fleet.InfluxWriter(cfg)
    w.write_lines("m v=1 1")
    with pytest.raises(fleet.TimedOutError, match="1 lines lost"):
        w.close(timeout=0.1)
    w.close()  # a second close does nothing


def test_writer_option_errors():
    cfg = fleet.InfluxConfig(database="db")
    with pytest.raises(fleet.InvalidArgument, match="durable"):
        fleet.InfluxWriter(cfg, durable=True)
    with pytest.raises(fleet.InvalidArgument, match="unknown member 'batch_points'"):
        fleet.InfluxWriter(cfg, batch_points=5)
    with pytest.raises(fleet.MissingError):
        fleet.InfluxWriter({"database": ""})
    with pytest.raises(fleet.InvalidArgument):
        fleet.InfluxWriter(cfg).write_lines("a\0b")


def test_writer_log_callback_errors_are_reported_not_raised(closed_port, monkeypatch):
    seen = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: seen.append(u.exc_type))
    cfg = fleet.InfluxConfig(url="http://127.0.0.1:%d" % closed_port, database="db",
                             connect_timeout_ms=100)

    def on_log(level, message):
        raise RuntimeError("log sink down")

    w = fleet.InfluxWriter(cfg, on_log=on_log, retry_initial_ms=20, flush_interval_ms=10)
    w.write_lines("m v=1 1")
    with pytest.raises(fleet.TimedOutError):
        w.flush(timeout=0.5)
    with pytest.raises(fleet.TimedOutError):
        w.close(timeout=0)
    assert RuntimeError in seen


def test_history_without_server(closed_port):
    cfg = fleet.InfluxConfig(url="http://127.0.0.1:%d" % closed_port, connect_timeout_ms=200)
    with fleet.History(cfg) as h:
        with pytest.raises(fleet.NetworkError):
            h.positions("2026-05-21T00:00:00Z", "2026-05-21T01:00:00Z", vehicles="v-1")
        with pytest.raises(fleet.NetworkError):
            h.query("SHOW DATABASES")
        with pytest.raises(fleet.InvalidArgument):
            h.positions("2026-05-21T01:00:00Z", "2026-05-21T00:00:00Z")
        with pytest.raises(fleet.InvalidArgument):
            h.trips(0, 10, vehicles=["bad id"])
        assert h.pick_tier("2026-05-21T00:00:00Z", "2026-05-21T01:00:00Z",
                           now="2026-05-21T02:00:00Z") == "raw"
        assert h.pick_tier("2026-05-01T00:00:00Z", "2026-05-21T01:00:00Z",
                           now="2026-05-21T02:00:00Z") == "hourly"
        assert h.pick_tier(0, 1, tier="raw") == "raw"
        with pytest.raises(fleet.InvalidArgument):
            h.pick_tier(0, 1, tier="warm")
        assert h.stats()["rows"] == 0
    with pytest.raises(fleet.InvalidArgument, match="chunk_size"):
        fleet.History(cfg, chunk_size=10**6)
    with pytest.raises(fleet.InvalidArgument):
        fleet.History(dict(cfg.to_dict(), api="v2", database="b", org="o")).ensure_database("x")


def test_quoting_and_durations():
    assert influx.quote_string("it's") == "'it\\'s'"
    assert influx.quote_ident('my "db"') == '"my \\"db\\""'
    with pytest.raises(fleet.InvalidArgument):
        influx.quote_string("a\rb")
    assert influx.format_duration(7 * 86400) == "7d"
    assert influx.format_duration(5400) == "90m"
    assert influx.format_duration(0) == "INF"
    assert influx.parse_duration("1h30m") == 5400
    assert influx.parse_duration("168h0m0s") == 7 * 86400
    assert influx.parse_duration("INF") == 0
    with pytest.raises(fleet.ParseError):
        influx.parse_duration("soon")
