"""What every handle class shares (internal)."""

from __future__ import annotations

import json
from typing import Any, TypeVar, Union

T = TypeVar("T", bound="Handle")

__all__ = ["Handle", "json_text"]


class Handle:
    """Mixin of the handle classes: a C object released by ``close()``.

    - ``close()`` releases the C object now (it is also released when the
      Python object is collected); further calls raise :class:`ClosedError`.
    - ``with`` closes it at the end of the block.
    - A handle that another one depends on (a ZoneSet used by a Tracker, an
      Auth bundle's users, verifier and signer) is kept alive by its
      dependants; once it is closed explicitly, their calls raise
      :class:`ClosedError`.
    - A handle whose C object is for one thread at a time serialises calls
      from several threads; calls that the C library forbids from inside the
      handle's own callback raise :class:`StateError`.
    """

    __slots__ = ()

    # close() and is_open() come from the SWIG class the handle derives from.

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return not self.is_open()  # type: ignore[attr-defined]

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return "<fleet.%s %s>" % (type(self).__name__, "closed" if self.closed else "open")


def json_text(value: Union[str, bytes, bytearray, memoryview, Any]) -> Union[str, bytes, bytearray, memoryview]:
    """JSON text as given, or a Python object (dict, list) serialised."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return value
    return json.dumps(value)

