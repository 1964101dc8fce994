"""Type stub of fleet._fleet, the compiled extension behind fleet._swig.

Its functions are the flat C entry points of the SWIG wrapper (for example
Tracker_feed(tracker, record)); fleet._swig (see _swig.pyi) presents them as
classes and functions, and the fleet package is the interface to use.
"""

from typing import Any

class TelemetryBase:
    """The C base of fleet.Telemetry: the record's fields in fixed slots."""

def __getattr__(name: str) -> Any: ...
