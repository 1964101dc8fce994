"""Geofences: zones (polygon, circle, corridor) and indexed zone sets.

    >>> depot = fleet.Zone.circle("depot", 23.81, 90.41, radius_m=250, name="Depot")
    >>> depot.contains(23.8105, 90.4102)
    True
    >>> zones = fleet.ZoneSet.from_geojson(open("zones.geojson").read())
    >>> [z.id for z in zones.zones_at(23.8103, 90.4125)]
    ['depot']

Zones are immutable and may be shared between threads; a ZoneSet is
thread-safe and may change while trackers use it. A ZoneSnapshot is an
immutable view of a set at one moment.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from . import _fleet, _swig
from ._handle import Handle, json_text

__all__ = ["Zone", "ZoneSet", "ZoneSnapshot"]

GeoJSON = Union[str, bytes, Dict[str, Any]]


class Zone(Handle, _swig.Zone):
    """An immutable geofence with an id, a name, a kind ("polygon",
    "circle" or "corridor") and its GeoJSON properties.

    Create one with :meth:`parse` (a GeoJSON Feature), :meth:`from_geometry`
    (a bare geometry plus id and properties) or :meth:`circle`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("create zones with Zone.parse(), Zone.from_geometry() or Zone.circle()")

    @classmethod
    def parse(cls, feature: GeoJSON) -> "Zone":  # type: ignore[override]
        """A zone from a GeoJSON Feature (text or dict). Polygon and
        MultiPolygon geometries are polygons; a Point needs
        ``properties.radius_m`` (a circle) and a LineString
        ``properties.width_m`` (a corridor, total width)."""
        return _fleet.Zone_parse(json_text(feature))

    @classmethod
    def from_geometry(cls, id: str, geometry: GeoJSON,  # type: ignore[override]
                      properties: Optional[GeoJSON] = None) -> "Zone":
        """A zone from a bare GeoJSON geometry, an id and its properties."""
        props = None if properties is None else json_text(properties)
        return _fleet.Zone_from_geometry(id, json_text(geometry), props)

    @classmethod
    def circle(cls, id: str, lat: float, lng: float, radius_m: float,  # type: ignore[override]
               name: Optional[str] = None) -> "Zone":
        """A circle of ``radius_m`` metres around (lat, lng), measured by
        great-circle distance (a true metric circle at every latitude)."""
        return _fleet.Zone_circle(id, name, lat, lng, radius_m)

    @property
    def id(self) -> str:
        """The zone's id."""
        return _fleet.Zone_get_id(self)

    @property
    def name(self) -> str:
        """properties.name, or the id."""
        return _fleet.Zone_get_name(self)

    @property
    def kind(self) -> str:
        """"polygon", "circle" or "corridor"."""
        return _fleet.Zone_get_kind(self)

    @property
    def properties(self) -> Dict[str, Any]:
        """The GeoJSON properties, as loaded (a new dict each time)."""
        return json.loads(_fleet.Zone_properties_json(self))

    @property  # type: ignore[override]
    def bbox(self) -> Tuple[float, float, float, float]:
        """A conservative bounding box (min_lat, min_lng, max_lat, max_lng);
        across the antimeridian min_lng > max_lng."""
        return tuple(_fleet.Zone_bbox(self))  # type: ignore[return-value]

    def contains(self, lat: float, lng: float) -> bool:  # type: ignore[override]
        """Whether (lat, lng) is inside, boundary included."""
        return _fleet.Zone_contains(self, lat, lng)

    def __contains__(self, point: Tuple[float, float]) -> bool:
        lat, lng = point
        return _fleet.Zone_contains(self, lat, lng)

    def to_geojson(self) -> str:  # type: ignore[override]
        """The zone as a compact GeoJSON Feature (text)."""
        return _fleet.Zone_to_geojson(self)

    def to_dict(self) -> Dict[str, Any]:
        """The zone as a GeoJSON Feature dict."""
        return json.loads(_fleet.Zone_to_geojson(self))

    @property
    def __geo_interface__(self) -> Dict[str, Any]:
        """The GeoJSON geometry (the geo interface shapely and others read)."""
        return self.to_dict()["geometry"]

    def __repr__(self) -> str:
        if self.closed:
            return "<fleet.Zone closed>"
        return "<fleet.Zone %r %s %r>" % (self.id, self.kind, self.name)


class ZoneSnapshot(Handle, _swig.ZoneSnapshot):
    """An immutable view of a ZoneSet at one generation; it stays valid,
    with its zones, after the set changes or is closed. Iterating gives the
    zones in key order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("snapshots come from ZoneSet.snapshot()")

    @property
    def generation(self) -> int:  # type: ignore[override]
        """The set generation this snapshot shows."""
        return _fleet.ZoneSnapshot_generation(self)

    def __len__(self) -> int:
        return _fleet.ZoneSnapshot_count(self)

    def keys(self) -> List[int]:
        """The zone keys, ascending."""
        return [_fleet.ZoneSnapshot_key_at(self, i) for i in range(len(self))]

    def __iter__(self) -> Iterator[Zone]:
        for i in range(len(self)):
            yield _fleet.ZoneSnapshot_at(self, i)

    def at(self, index: int) -> Zone:  # type: ignore[override]
        """The zone at position ``index`` (ascending key order)."""
        return _fleet.ZoneSnapshot_at(self, index)

    def get(self, key: int) -> Zone:  # type: ignore[override]
        """The zone with this key (NotFoundError when absent)."""
        return _fleet.ZoneSnapshot_get(self, key)

    def find(self, id: str) -> Zone:  # type: ignore[override]
        """The zone with this id (NotFoundError when absent)."""
        return _fleet.ZoneSnapshot_find(self, id)

    def lookup(self, lat: float, lng: float) -> List[int]:  # type: ignore[override]
        """Keys of the zones containing (lat, lng), ascending."""
        return _fleet.ZoneSnapshot_lookup(self, lat, lng)

    def zones_at(self, lat: float, lng: float) -> List[Zone]:
        """The zones containing (lat, lng), in key order."""
        return [_fleet.ZoneSnapshot_get(self, k) for k in _fleet.ZoneSnapshot_lookup(self, lat, lng)]

    def to_geojson(self) -> str:  # type: ignore[override]
        """The zones as a compact GeoJSON FeatureCollection (text)."""
        return _fleet.ZoneSnapshot_to_geojson(self)


class ZoneSet(Handle, _swig.ZoneSet):
    """An indexed, thread-safe set of zones with unique ids (lookups cost
    O(log n) for thousands of zones). Each id has a stable integer key.

    ``ZoneSet(geojson)`` loads a FeatureCollection (text or dict) at once.
    Iterating gives the zones of the current contents in key order;
    ``set[id]`` the zone with that id.
    """

    def __init__(self, geojson: Optional[GeoJSON] = None) -> None:
        super().__init__()
        if geojson is not None:
            self.load(geojson)

    @classmethod
    def from_geojson(cls, geojson: GeoJSON) -> "ZoneSet":
        """A set holding the zones of a FeatureCollection (text or dict)."""
        return cls(geojson)

    @classmethod
    def from_file(cls, path: str) -> "ZoneSet":
        """A set holding the zones of a GeoJSON file."""
        with open(path, "rb") as f:
            return cls(f.read())

    def load(self, geojson: GeoJSON, replace: bool = False) -> None:
        """Load a FeatureCollection (or one Feature), all or nothing: new ids
        are added, existing ones replaced; with ``replace`` the set becomes
        exactly the document's zones."""
        _fleet.ZoneSet_load_geojson(self, json_text(geojson), replace)

    def add(self, zone: Zone) -> int:  # type: ignore[override]
        """Add a zone whose id is new (ExistsError otherwise); its key."""
        return _fleet.ZoneSet_add(self, zone)

    def replace(self, zone: Zone) -> int:  # type: ignore[override]
        """Replace the zone with the same id (NotFoundError otherwise)."""
        return _fleet.ZoneSet_replace(self, zone)

    def put(self, zone: Zone) -> int:  # type: ignore[override]
        """Add the zone, or replace the one with the same id; its key."""
        return _fleet.ZoneSet_put(self, zone)

    def remove(self, id: str) -> None:  # type: ignore[override]
        """Remove the zone with this id (NotFoundError when absent)."""
        _fleet.ZoneSet_remove(self, id)

    def clear(self) -> None:  # type: ignore[override]
        """Remove every zone."""
        _fleet.ZoneSet_clear(self)

    def key(self, id: str) -> int:  # type: ignore[override]
        """The key of an id (interned if the set has never seen it)."""
        return _fleet.ZoneSet_key(self, id)

    @property
    def generation(self) -> int:  # type: ignore[override]
        """Changes with every mutation."""
        return _fleet.ZoneSet_generation(self)

    def __len__(self) -> int:
        return _fleet.ZoneSet_count(self)

    def lookup(self, lat: float, lng: float) -> List[int]:  # type: ignore[override]
        """Keys of the zones containing (lat, lng), ascending."""
        return _fleet.ZoneSet_lookup(self, lat, lng)

    def zones_at(self, lat: float, lng: float) -> List[Zone]:
        """The zones containing (lat, lng), in key order (one snapshot)."""
        with self.snapshot() as snap:
            return snap.zones_at(lat, lng)

    def get(self, key: int) -> Zone:  # type: ignore[override]
        """The zone with this key (NotFoundError when absent)."""
        return _fleet.ZoneSet_get(self, key)

    def get_by_id(self, id: str) -> Zone:  # type: ignore[override]
        """The zone with this id (NotFoundError when absent)."""
        return _fleet.ZoneSet_get_by_id(self, id)

    def __getitem__(self, id: str) -> Zone:
        return _fleet.ZoneSet_get_by_id(self, id)

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, str):
            return False
        with self.snapshot() as snap:
            try:
                snap.find(id).close()
                return True
            except LookupError:
                return False

    def __iter__(self) -> Iterator[Zone]:
        with self.snapshot() as snap:
            zones = list(snap)
        return iter(zones)

    def snapshot(self) -> ZoneSnapshot:  # type: ignore[override]
        """An immutable view of the current contents."""
        return _fleet.ZoneSet_snapshot(self)

    def to_geojson(self) -> str:
        """The current zones as a GeoJSON FeatureCollection (text)."""
        with self.snapshot() as snap:
            return snap.to_geojson()


# Zones, snapshots and sets returned by the C layer are created as these classes.
_swig.set_proxy_class("fleetswig_zone *", Zone)
_swig.set_proxy_class("fleetswig_snapshot *", ZoneSnapshot)
_swig.set_proxy_class("fleetswig_zoneset *", ZoneSet)
