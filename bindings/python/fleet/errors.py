"""Exceptions raised by libfleet.

Every failure of the C library is a status code (``FLEET_E*``); the binding
raises the subclass of :class:`Error` that belongs to it, with the library's
precise message (``fleet_error_last()``), for example::

    >>> fleet.parse('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":91.2,"lng":0}')
    Traceback (most recent call last):
    fleet.errors.RangeError: lat: 91.2 is outside [-90, 90]

Each class also derives from the built-in exception closest to its meaning
(``ValueError``, ``OSError``, ``TimeoutError``...), so ``except ValueError``
keeps working in code that does not know libfleet.
"""

from __future__ import annotations

from typing import Dict, Type

from . import _swig

__all__ = [
    "Error",
    "InvalidArgument",
    "OutOfMemoryError",
    "ParseError",
    "RangeError",
    "WrongTypeError",
    "MissingError",
    "TooBigError",
    "VersionError",
    "InputOutputError",
    "NotFoundError",
    "ExistsError",
    "GeometryError",
    "NetworkError",
    "AuthError",
    "PermissionDeniedError",
    "ServerError",
    "TimedOutError",
    "ClosedError",
    "FullError",
    "CorruptError",
    "StateError",
    "InternalError",
    "error_class",
]


class Error(Exception):
    """Base class of every libfleet failure.

    Attributes:
        code: the status code, a negative ``FLEET_E*`` value.
        message: the library's detailed message (also ``str(error)``).
        status_name: the code's symbolic name, e.g. ``"FLEET_EINVAL"``.
    """

    code: int = 0

    def __init__(self, message: str = "") -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The library's detailed message."""
        return str(self.args[0]) if self.args else ""

    @property
    def status_name(self) -> str:
        """The status code's name, e.g. "FLEET_ERANGE" ("unknown" for a code
        this version does not know)."""
        return _swig.status_name(self.code) or "unknown"

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    """FLEET_EINVAL: an invalid argument, or misuse of the API."""

    code = _swig.FLEET_EINVAL


class OutOfMemoryError(Error, MemoryError):
    """FLEET_ENOMEM: out of memory."""

    code = _swig.FLEET_ENOMEM


class ParseError(Error, ValueError):
    """FLEET_EPARSE: malformed input (not JSON, bad UTF-8, bad syntax)."""

    code = _swig.FLEET_EPARSE


class RangeError(Error, ValueError):
    """FLEET_ERANGE: a value outside its allowed range, or not finite."""

    code = _swig.FLEET_ERANGE


class WrongTypeError(Error, TypeError):
    """FLEET_ETYPE: a value of the wrong type."""

    code = _swig.FLEET_ETYPE


class MissingError(Error, ValueError):
    """FLEET_EMISSING: a required field or argument is missing."""

    code = _swig.FLEET_EMISSING


class TooBigError(Error, ValueError):
    """FLEET_ETOOBIG: over a size, length, count or depth limit."""

    code = _swig.FLEET_ETOOBIG


class VersionError(Error, ValueError):
    """FLEET_EVERSION: an unsupported format or struct version."""

    code = _swig.FLEET_EVERSION


class InputOutputError(Error, OSError):
    """FLEET_EIO: a file or system I/O error."""

    code = _swig.FLEET_EIO


class NotFoundError(Error, LookupError):
    """FLEET_ENOTFOUND: no such object."""

    code = _swig.FLEET_ENOTFOUND


class ExistsError(Error):
    """FLEET_EEXISTS: the object exists already."""

    code = _swig.FLEET_EEXISTS


class GeometryError(Error, ValueError):
    """FLEET_EGEOMETRY: an invalid geometry."""

    code = _swig.FLEET_EGEOMETRY


class NetworkError(Error, ConnectionError):
    """FLEET_ENET: a network error (connection refused, reset, DNS)."""

    code = _swig.FLEET_ENET


class AuthError(Error):
    """FLEET_EAUTH: authentication failed (bad credentials or token)."""

    code = _swig.FLEET_EAUTH


class PermissionDeniedError(Error):
    """FLEET_EPERM: authenticated but not allowed."""

    code = _swig.FLEET_EPERM


class ServerError(Error):
    """FLEET_ESERVER: a server answered with an error."""

    code = _swig.FLEET_ESERVER


class TimedOutError(Error, TimeoutError):
    """FLEET_ETIMEOUT: an operation timed out."""

    code = _swig.FLEET_ETIMEOUT


class ClosedError(Error):
    """FLEET_ECLOSED: the handle (or the handle it depends on) is closed."""

    code = _swig.FLEET_ECLOSED


class FullError(Error):
    """FLEET_EFULL: a bounded queue, buffer or spool is full."""

    code = _swig.FLEET_EFULL


class CorruptError(Error):
    """FLEET_ECORRUPT: stored data failed its integrity check."""

    code = _swig.FLEET_ECORRUPT


class StateError(Error):
    """FLEET_ESTATE: the call is not valid in the object's current state."""

    code = _swig.FLEET_ESTATE


class InternalError(Error):
    """FLEET_EINTERNAL: a bug in libfleet or a dependency; please report it."""

    code = _swig.FLEET_EINTERNAL


_BY_CODE: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        OutOfMemoryError,
        ParseError,
        RangeError,
        WrongTypeError,
        MissingError,
        TooBigError,
        VersionError,
        InputOutputError,
        NotFoundError,
        ExistsError,
        GeometryError,
        NetworkError,
        AuthError,
        PermissionDeniedError,
        ServerError,
        TimedOutError,
        ClosedError,
        FullError,
        CorruptError,
        StateError,
        InternalError,
    )
}


def error_class(code: int) -> Type[Error]:
    """The exception class raised for status code ``code`` (Error when unknown)."""
    return _BY_CODE.get(code, Error)


_swig.register_errors(Error, _BY_CODE)
