"""Every status code has its exception class, raised with the library's message."""

import pytest

import fleet
from fleet import _swig

# code -> (class, built-in base it must also be)
EXPECTED = {
    -1: (fleet.InvalidArgument, ValueError),
    -2: (fleet.OutOfMemoryError, MemoryError),
    -3: (fleet.ParseError, ValueError),
    -4: (fleet.RangeError, ValueError),
    -5: (fleet.WrongTypeError, TypeError),
    -6: (fleet.MissingError, ValueError),
    -7: (fleet.TooBigError, ValueError),
    -8: (fleet.VersionError, ValueError),
    -9: (fleet.InputOutputError, OSError),
    -10: (fleet.NotFoundError, LookupError),
    -11: (fleet.ExistsError, fleet.Error),
    -12: (fleet.GeometryError, ValueError),
    -13: (fleet.NetworkError, ConnectionError),
    -14: (fleet.AuthError, fleet.Error),
    -15: (fleet.PermissionDeniedError, fleet.Error),
    -16: (fleet.ServerError, fleet.Error),
    -17: (fleet.TimedOutError, TimeoutError),
    -18: (fleet.ClosedError, fleet.Error),
    -19: (fleet.FullError, fleet.Error),
    -20: (fleet.CorruptError, fleet.Error),
    -21: (fleet.StateError, fleet.Error),
    -22: (fleet.InternalError, fleet.Error),
}


def test_every_code_of_the_library_has_a_class():
    # FLEET_STATUS_MIN is the lowest code this version of libfleet defines.
    codes = range(_swig.status_min(), 0)
    assert sorted(EXPECTED) == sorted(codes)
    for code in codes:
        assert fleet.errors.error_class(code) is EXPECTED[code][0]
        assert EXPECTED[code][0].code == code


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_raise_status_raises_the_class_with_message_and_code(code):
    cls, builtin = EXPECTED[code]
    with pytest.raises(cls) as info:
        _swig.raise_status(code, "thing: %d went wrong" % code)
    exc = info.value
    assert isinstance(exc, fleet.Error)
    assert isinstance(exc, builtin)
    assert exc.code == code
    assert str(exc) == "thing: %d went wrong" % code
    assert exc.message == str(exc)
    assert exc.status_name == _swig.status_name(code)
    assert exc.status_name.startswith("FLEET_E")


def test_unknown_code_raises_the_base_class_keeping_the_code():
    with pytest.raises(fleet.Error) as info:
        _swig.raise_status(-999, "from a newer library")
    assert type(info.value) is fleet.Error
    assert info.value.code == -999
    assert info.value.status_name == "unknown"


def test_message_with_invalid_utf8_does_not_hide_the_error():
    # Messages quote raw input; bytes that are not UTF-8 must not turn the
    # error into a UnicodeDecodeError.
    with pytest.raises(fleet.ParseError) as info:
        fleet.parse(b'{"v":1,"ts":"\xff\xfe"}')
    assert info.value.code == -3


def test_errors_carry_the_precise_library_message():
    with pytest.raises(fleet.RangeError, match=r"^lat: 91\.2 is outside \[-90, 90\]$"):
        fleet.parse('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":91.2,"lng":0}')
    with pytest.raises(fleet.MissingError, match="lng"):
        fleet.parse('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1}')


def test_strerror_and_names():
    assert _swig.strerror(-1) == "invalid argument"
    assert _swig.status_name(-1) == "FLEET_EINVAL"
    assert _swig.status_name(-999) is None
    assert _swig.strerror(-999) == "unknown error"
