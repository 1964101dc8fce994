"""Every public name of the package is documented, and the SWIG layer
carries the header comments (-doxygen) as docstrings."""

import inspect

import fleet
from fleet import _swig

MODULES = [fleet, fleet.errors, fleet.records, fleet.zones, fleet.tracking, fleet.influx,
           fleet.mqtt, fleet.auth, fleet.ws, fleet.storage]


def public_members(obj):
    for name, value in vars(obj).items():
        # thisown: SWIG's ownership flag of every proxy class.
        if name.startswith("_") or name == "thisown":
            continue
        yield name, value


def test_every_public_name_has_a_docstring():
    missing = []
    for module in MODULES:
        assert inspect.getdoc(module), module.__name__
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not inspect.getdoc(value):
                missing.append("%s.%s" % (module.__name__, name))
            if inspect.isclass(value) and value.__module__.startswith("fleet"):
                for attr, member in public_members(value):
                    target = member.fget if isinstance(member, property) else member
                    if (inspect.isfunction(target) or isinstance(member, property)) and \
                            not inspect.getdoc(target):
                        missing.append("%s.%s.%s" % (module.__name__, name, attr))
    assert missing == []


def test_swig_layer_has_the_header_documentation():
    # Functions wrapped from the headers carry their doc comments...
    assert "haversine" in _swig.geo_distance_m.__doc__
    assert "RFC 3339" in _swig.time_parse.__doc__
    # ...and the methods written in fleet.i carry theirs.
    assert "boundary included" in _swig.Zone.contains.__doc__
    assert "Feed one record" in _swig.Tracker.feed.__doc__
