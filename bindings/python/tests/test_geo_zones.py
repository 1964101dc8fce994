"""Geo helpers, zones, zone sets and snapshots."""

import json
import math

import pytest

import fleet

M_PER_DEG = 6371008.8 * math.pi / 180  # 111195.0802... metres per degree on the sphere


def test_distance_and_bearing():
    assert fleet.distance_m(0, 0, 0, 1) == pytest.approx(M_PER_DEG, rel=1e-12)
    assert fleet.distance_m(10, 20, 10, 20) == 0.0
    # Across the antimeridian: 0.2 degrees, not 359.8.
    assert fleet.distance_m(0, 179.9, 0, -179.9) == pytest.approx(0.2 * M_PER_DEG, rel=1e-9)
    assert fleet.bearing_deg(0, 0, 0, 1) == pytest.approx(90)
    assert fleet.bearing_deg(0, 0, 1, 0) == pytest.approx(0)
    assert fleet.bearing_deg(0, 0, -1, 0) == pytest.approx(180)
    assert fleet.bearing_deg(0, 0, 0, -1) == pytest.approx(270)
    assert math.isnan(fleet.distance_m(float("nan"), 0, 0, 0))
    assert fleet.EARTH_RADIUS_M == 6371008.8


def test_destination_segment_wrap():
    lat, lng = fleet.destination(0, 0, M_PER_DEG, 90)
    assert lat == pytest.approx(0, abs=1e-12) and lng == pytest.approx(1, abs=1e-12)
    lat, lng = fleet.destination(0, 179.5, M_PER_DEG, 90)
    assert lng == pytest.approx(-179.5, abs=1e-9)
    # 1 degree of latitude north of the middle of an equator segment.
    assert fleet.segment_distance_m(1, 0.5, 0, 0, 0, 1) == pytest.approx(M_PER_DEG, rel=1e-5)
    # Beyond its end: the distance to the end point.
    assert fleet.segment_distance_m(0, 2, 0, 0, 0, 1) == pytest.approx(M_PER_DEG, rel=1e-9)
    assert fleet.wrap_lng(180) == -180
    assert fleet.wrap_lng(190) == pytest.approx(-170)
    assert fleet.wrap_lng(-540) == -180


def test_local_projection():
    p = fleet.GeoProj(0, 0)
    assert (p.lat0, p.lng0) == (0, 0)
    assert p.m_per_deg_lat == pytest.approx(M_PER_DEG)
    x, y = p.project(0, 1)
    assert x == pytest.approx(M_PER_DEG) and y == pytest.approx(0, abs=1e-9)
    lat, lng = p.unproject(0, M_PER_DEG)
    assert lat == pytest.approx(1) and lng == pytest.approx(0, abs=1e-12)
    p60 = fleet.GeoProj(60, 10)
    assert p60.m_per_deg_lng == pytest.approx(M_PER_DEG * 0.5)
    with pytest.raises(AttributeError):
        p60.lat0 = 1.0


SQUARE = {"type": "Feature", "id": "sq", "properties": {"name": "Square", "speed_limit": 30},
          "geometry": {"type": "Polygon",
                       "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}


def test_polygon_zone():
    z = fleet.Zone.parse(SQUARE)
    assert (z.id, z.name, z.kind) == ("sq", "Square", "polygon")
    assert z.properties == {"name": "Square", "speed_limit": 30}
    assert z.contains(0.5, 0.5)
    assert z.contains(0, 0.5)  # the boundary is inside
    assert not z.contains(1.5, 0.5)
    assert (0.5, 0.5) in z and (2, 2) not in z
    assert z.bbox == (0, 0, 1, 1)
    again = fleet.Zone.parse(z.to_geojson())
    assert (again.id, again.kind, again.properties) == (z.id, z.kind, z.properties)
    assert z.to_dict()["geometry"]["type"] == "Polygon"
    assert z.__geo_interface__ == z.to_dict()["geometry"]
    assert repr(z) == "<fleet.Zone 'sq' polygon 'Square'>"
    # Integer ids become text.
    assert fleet.Zone.parse(dict(SQUARE, id=7)).id == "7"


def test_circle_zone_is_metric():
    z = fleet.Zone.circle("c", 0, 0.024, 150, name="Shop")
    assert (z.kind, z.name) == ("circle", "Shop")
    assert z.properties == {"name": "Shop", "radius_m": 150}
    assert z.contains(0, 0.024 + 149 / M_PER_DEG)
    assert not z.contains(0, 0.024 + 151 / M_PER_DEG)
    # 150 m north at 60 degrees is the same 150 m.
    z60 = fleet.Zone.circle("n", 60, 10, 150)
    assert z60.name == "n"
    assert z60.contains(60 + 149 / M_PER_DEG, 10)
    assert not z60.contains(60, 10 + 151 / (M_PER_DEG * 0.5))


def test_corridor_from_geometry():
    z = fleet.Zone.from_geometry(
        "bridge", {"type": "LineString", "coordinates": [[0.030, 0.0], [0.036, 0.0]]},
        {"width_m": 60})
    assert (z.kind, z.name) == ("corridor", "bridge")
    assert z.contains(29 / M_PER_DEG, 0.033)
    assert not z.contains(31 / M_PER_DEG, 0.033)
    text = fleet.Zone.from_geometry("p", json.dumps(SQUARE["geometry"]))
    assert text.properties == {}


@pytest.mark.parametrize("feature,cls", [
    (dict(SQUARE, id=None, properties={}), fleet.MissingError),
    ({"type": "Feature", "id": "x", "properties": {},
      "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}},
     fleet.GeometryError),
    ({"type": "Feature", "id": "x", "properties": {"radius_m": -5},
      "geometry": {"type": "Point", "coordinates": [0, 0]}}, fleet.RangeError),
    ({"type": "Feature", "id": "x", "properties": {},
      "geometry": {"type": "Point", "coordinates": [0, 0]}}, fleet.MissingError),
    ({"type": "FeatureCollection", "features": []}, fleet.WrongTypeError),
    ("{not json", fleet.ParseError),
])
def test_zone_errors(feature, cls):
    with pytest.raises(cls):
        fleet.Zone.parse(feature)


def test_zone_cannot_be_constructed_directly():
    with pytest.raises(TypeError, match="Zone.parse"):
        fleet.Zone()


def test_zone_set(tracking_dir):
    zs = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    assert len(zs) == 3
    g0 = zs.generation
    depot, shop, bridge = zs.key("depot"), zs.key("shop"), zs.key("bridge")
    assert sorted([depot, shop, bridge]) == [1, 2, 3]
    assert zs.lookup(0, 0.012) == [depot]
    # The shop circle (150 m) ends 667 - 150 m before the bridge starts.
    assert [z.id for z in zs.zones_at(0, 0.030)] == ["bridge"]
    assert zs.lookup(5, 5) == []
    assert zs.get(shop).name == "Shop"
    assert zs.get_by_id("bridge").properties["speed_limit"] == 30
    assert zs["depot"].kind == "polygon"
    assert "shop" in zs and "nowhere" not in zs and 3 not in zs
    assert [z.id for z in zs] == ["depot", "shop", "bridge"]
    with pytest.raises(fleet.NotFoundError):
        zs.get(99)
    with pytest.raises(fleet.NotFoundError):
        zs["nowhere"]

    extra = fleet.Zone.circle("extra", 0, 0.1, 50)
    k = zs.add(extra)
    assert k == 4 and len(zs) == 4 and zs.generation > g0
    with pytest.raises(fleet.ExistsError):
        zs.add(extra)
    with pytest.raises(fleet.NotFoundError):
        zs.replace(fleet.Zone.circle("other", 0, 0, 10))
    assert zs.replace(fleet.Zone.circle("extra", 0, 0.1, 80)) == 4
    assert zs.get(4).properties["radius_m"] == 80
    assert zs.put(fleet.Zone.circle("new", 0, 0.012, 10)) == 5
    # Inside the depot polygon and the new circle: both keys, ascending.
    assert zs.lookup(0, 0.012) == [depot, 5]
    assert [z.id for z in zs.zones_at(0, 0.012)] == ["depot", "new"]
    zs.remove("extra")
    with pytest.raises(fleet.NotFoundError):
        zs.remove("extra")
    assert len(zs) == 4
    assert zs.key("extra") == 4  # keys stay reserved for their id
    assert zs.add(extra) == 4
    zs.clear()
    assert len(zs) == 0 and zs.lookup(0, 0.012) == []


def test_zone_set_load_is_all_or_nothing(tracking_dir):
    zs = fleet.ZoneSet((tracking_dir / "zones.geojson").read_text())
    gen = zs.generation
    bad = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "ok", "properties": {"radius_m": 10},
         "geometry": {"type": "Point", "coordinates": [0, 0]}},
        {"type": "Feature", "id": "bad", "properties": {"radius_m": -1},
         "geometry": {"type": "Point", "coordinates": [0, 0]}}]}
    with pytest.raises(fleet.RangeError, match=r"features\[1\]"):
        zs.load(bad)
    assert len(zs) == 3 and zs.generation == gen
    zs.load({"type": "FeatureCollection", "features": bad["features"][:1]}, replace=True)
    assert [z.id for z in zs] == ["ok"]


def test_snapshot_outlives_its_set(tracking_dir):
    zs = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    snap = zs.snapshot()
    zs.remove("depot")
    zs.close()
    assert zs.closed
    with pytest.raises(fleet.ClosedError):
        len(zs)
    # The snapshot still shows the contents it was taken from.
    assert len(snap) == 3
    assert snap.keys() == [1, 2, 3]
    assert [z.id for z in snap] == ["depot", "shop", "bridge"]
    assert snap.find("depot").kind == "polygon"
    assert snap.get(3).id == "bridge"
    assert snap.at(0).id == "depot"
    assert snap.lookup(0, 0.012) == [1]
    assert json.loads(snap.to_geojson())["type"] == "FeatureCollection"
    with pytest.raises(fleet.NotFoundError):
        snap.at(3)
    with pytest.raises(fleet.NotFoundError):
        snap.find("x")
    snap.close()
    with pytest.raises(fleet.ClosedError):
        snap.keys()


def test_closed_zone_objects_refuse_calls():
    z = fleet.Zone.circle("c", 0, 0, 10)
    with z:
        assert z.contains(0, 0)
    assert z.closed and repr(z) == "<fleet.Zone closed>"
    for call in (lambda: z.contains(0, 0), lambda: z.id, lambda: z.bbox, lambda: z.to_geojson()):
        with pytest.raises(fleet.ClosedError, match="Zone is closed"):
            call()
    z.close()  # a second close does nothing
    zs = fleet.ZoneSet()
    with pytest.raises(fleet.ClosedError):
        zs.add(z)
    assert len(zs) == 0


def test_lookup_arguments_are_checked():
    zs = fleet.ZoneSet()
    with pytest.raises(fleet.RangeError):
        zs.lookup(91, 0)
    with pytest.raises(TypeError):
        zs.lookup("north", 0)
