"""Authentication: JSON Web Tokens (issue and verify), password hashes, the
users file and roles ("viewer", "admin").

    >>> signer = fleet.auth.Signer(secret)                 # HS256, >= 32 bytes
    >>> verifier = fleet.auth.Verifier(keys=[("HS256", secret)])
    >>> token = signer.issue(fleet.auth.Claims("alice", "admin", vehicles="*"))
    >>> claims = verifier.verify(token)
    >>> claims.subject, claims.role, claims.allows("v-001")
    ('alice', 'admin', True)

Every refused token or credential raises :class:`fleet.AuthError`; its
message says exactly why ("token expired at ...", "signature invalid") and is
meant for the server's log, never for the client.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _fleet, _swig
from ._handle import Handle
from .errors import AuthError

__all__ = ["Claims", "Verifier", "Signer", "Users", "Auth", "hash_password", "check_password",
           "verify_password", "load_or_create_secret", "is_username"]

Vehicles = Union[str, Sequence[str], None]


def _vehicles(v: Vehicles) -> Optional[str]:
    """The C form of an allow-list: "*", "" or "v-001,v-002"."""
    if v is None or isinstance(v, str):
        return v
    return ",".join(v)


def hash_password(password: str) -> str:
    """A crypt(3) hash of ``password`` (yescrypt "$y$" on Debian 12, random salt)."""
    return _swig.auth_hash_password(password)


def check_password(hash: str, password: str) -> None:
    """Check a password against its hash; AuthError when it does not match."""
    _swig.auth_check_password(hash, password)


def verify_password(hash: str, password: str) -> bool:
    """Whether ``password`` matches ``hash`` (compared in constant time)."""
    try:
        _swig.auth_check_password(hash, password)
    except AuthError:
        return False
    return True


def load_or_create_secret(path: str) -> bytes:
    """The HS256 server secret stored in ``path``, created (48 random bytes,
    mode 0600) when the file does not exist."""
    return _swig.auth_secret(path)


def is_username(name: str) -> bool:
    """Whether ``name`` is a valid user name (1-64 of [A-Za-z0-9._@-])."""
    return _swig.auth_username_valid(name)


class Claims(Handle, _swig.Claims):
    """What a token says about its bearer: subject, role, vehicles, token
    type ("access" or "refresh"), times, token id, issuer and key id.

    ``Claims(subject, role, vehicles)`` makes claims by hand (a service
    account, a test); vehicles: "*" (all), "" or [] (none), or ids.
    """

    def __init__(self, subject: str, role: str = "viewer", vehicles: Vehicles = None) -> None:
        super().__init__(subject, role)
        if vehicles is not None:
            self.set_vehicles(vehicles)

    def set_vehicles(self, vehicles: Vehicles) -> None:  # type: ignore[override]
        """Replace the allow-list ("*", "" / [] for none, or ids)."""
        _fleet.Claims_set_vehicles(self, _vehicles(vehicles) or "")

    @property
    def subject(self) -> str:
        """``sub``: the user name for libfleet's own tokens."""
        return _fleet.Claims_text(self, "subject")

    @property
    def role(self) -> str:
        """"viewer" or "admin"."""
        return _fleet.Claims_text(self, "role")

    @property
    def type(self) -> str:
        """"access" or "refresh"."""
        return _fleet.Claims_text(self, "type")

    @property
    def token_id(self) -> str:
        """The token's ``jti`` ("" when none)."""
        return _fleet.Claims_text(self, "token_id")

    @property
    def issuer(self) -> str:
        """``iss`` ("" when absent)."""
        return _fleet.Claims_text(self, "issuer")

    @property
    def key_id(self) -> str:
        """The kid of the key that verified the token ("" when none)."""
        return _fleet.Claims_text(self, "key_id")

    @property
    def expires(self) -> int:
        """``exp``, seconds since the epoch (0 when not from a token)."""
        return _fleet.Claims_time(self, "expires")

    @property
    def issued_at(self) -> int:
        """``iat``, seconds since the epoch (0 when absent)."""
        return _fleet.Claims_time(self, "issued_at")

    @property
    def all_vehicles(self) -> bool:  # type: ignore[override]
        """Whether the bearer may see every vehicle."""
        return _fleet.Claims_all_vehicles(self)

    @property
    def vehicles(self) -> Union[str, List[str]]:
        """"*" for every vehicle, else the list of allowed ids."""
        if _fleet.Claims_all_vehicles(self):
            return "*"
        return [_fleet.Claims_vehicle_at(self, i) for i in range(_fleet.Claims_vehicle_count(self))]

    def allows(self, vehicle_id: str) -> bool:  # type: ignore[override]
        """Whether the bearer may see ``vehicle_id``."""
        return _fleet.Claims_allows(self, vehicle_id)

    def to_json(self) -> str:  # type: ignore[override]
        """The claims as one JSON object."""
        return _fleet.Claims_to_json(self)

    def to_dict(self) -> Dict[str, Any]:
        """The claims as a dict (the JSON of to_json())."""
        import json
        return json.loads(_fleet.Claims_to_json(self))

    def __repr__(self) -> str:
        if self.closed:
            return "<fleet.auth.Claims closed>"
        return "<fleet.auth.Claims %s %r role=%s vehicles=%r>" % (
            self.type, self.subject, self.role, self.vehicles)


class Verifier(Handle, _swig.Verifier):
    """A key set plus a policy. Each key is pinned to one algorithm
    ("HS256" secret of >= 32 bytes, "RS256" / "ES256" PEM public key) and may
    have a kid; tokens signed with another algorithm never reach it.

    keys: (alg, key) or (alg, key, kid) tuples to add at once.
    leeway_s (30), issuer, audience: the policy.
    """

    def __init__(self, *, keys: Iterable[Tuple[Any, ...]] = (), leeway_s: Optional[int] = None,
                 issuer: Optional[str] = None, audience: Optional[str] = None) -> None:
        opts = {"leeway_s": leeway_s, "issuer": issuer, "audience": audience}
        super().__init__({k: v for k, v in opts.items() if v is not None} or None)
        for key in keys:
            self.add_key(*key)

    def add_key(self, alg: str, key: Union[str, bytes], kid: Optional[str] = None) -> None:  # type: ignore[override]
        """Add a key: an HS256 secret, or a PEM public key for RS256 / ES256."""
        _fleet.Verifier_add_key(self, alg, kid, key)

    def add_key_file(self, alg: str, path: str, kid: Optional[str] = None) -> None:  # type: ignore[override]
        """Add a key read from a file."""
        _fleet.Verifier_add_key_file(self, alg, kid, path)

    def __len__(self) -> int:
        return _fleet.Verifier_key_count(self)

    def verify(self, token: Union[str, bytes], expected: str = "access",  # type: ignore[override]
               now: Optional[int] = None) -> Claims:
        """The Claims of a valid token of type ``expected``; AuthError with
        the reason otherwise. ``now`` (seconds since the epoch) checks the
        token at another moment."""
        return _fleet.Verifier_verify(self, token, expected, -1 if now is None else now)


class Signer(Handle, _swig.Signer):
    """A signing key and the lifetimes of the tokens it issues.

    key: the HS256 secret (bytes, >= 32) or a PEM private key for RS256 /
    ES256; kid, issuer, audience are written into the tokens;
    access_ttl_s (900), refresh_ttl_s (604800).
    """

    def __init__(self, key: Union[str, bytes], alg: str = "HS256", *, kid: Optional[str] = None,
                 issuer: Optional[str] = None, audience: Optional[str] = None,
                 access_ttl_s: Optional[int] = None, refresh_ttl_s: Optional[int] = None) -> None:
        opts = {"key": key, "alg": alg, "kid": kid, "issuer": issuer, "audience": audience,
                "access_ttl_s": access_ttl_s, "refresh_ttl_s": refresh_ttl_s}
        super().__init__({k: v for k, v in opts.items() if v is not None})

    def ttl(self, type: str = "access") -> int:  # type: ignore[override]
        """The lifetime of tokens of ``type``, seconds."""
        return _fleet.Signer_ttl(self, type)

    def issue(self, who: Claims, type: str = "access", ttl_s: int = 0) -> str:  # type: ignore[override]
        """A token for ``who`` (subject, role, vehicles) of ``type``, with
        lifetime ``ttl_s`` (0: the signer's default)."""
        token, _exp = _fleet.Signer_issue(self, who, type, ttl_s)
        return token

    def issue_with_expiry(self, who: Claims, type: str = "access", ttl_s: int = 0) -> Tuple[str, int]:
        """As issue(), with the token's ``exp`` (seconds since the epoch)."""
        return tuple(_fleet.Signer_issue(self, who, type, ttl_s))  # type: ignore[return-value]


class Users(Handle, _swig.Users):
    """The users file (JSON, 0600): changes are locked, re-read first and
    written atomically. Records are dicts: name, role, vehicles ("*" or a
    list), created, updated (seconds since the epoch)."""

    def reload(self) -> bool:  # type: ignore[override]
        """Re-read the file if it changed on disk; whether it did."""
        return _fleet.Users_reload(self)

    def add(self, name: str, password: str, role: str = "viewer",  # type: ignore[override]
            vehicles: Vehicles = "*") -> None:
        """Add a user (ExistsError when the name is taken)."""
        _fleet.Users_add(self, name, password, role, _vehicles(vehicles))

    def set_password(self, name: str, password: str) -> None:  # type: ignore[override]
        """Set a user's password."""
        _fleet.Users_set_password(self, name, password)

    def update(self, name: str, role: str, vehicles: Vehicles = "*") -> None:  # type: ignore[override]
        """Change a user's role and vehicles."""
        _fleet.Users_update(self, name, role, _vehicles(vehicles))

    def remove(self, name: str) -> None:  # type: ignore[override]
        """Delete a user (NotFoundError when absent)."""
        _fleet.Users_remove(self, name)

    def __len__(self) -> int:
        return _fleet.Users_count(self)

    def list(self) -> List[Dict[str, Any]]:
        """Every user, sorted by name."""
        return [_fleet.Users_get_at(self, i) for i in range(len(self))]

    def get(self, name: str) -> Dict[str, Any]:  # type: ignore[override]
        """The user called ``name`` (NotFoundError when absent)."""
        return _fleet.Users_get(self, name)

    def authenticate(self, name: str, password: str) -> Claims:  # type: ignore[override]
        """The user's Claims when the password matches; AuthError otherwise
        (unknown users cost the same time as wrong passwords)."""
        return _fleet.Users_authenticate(self, name, password)

    def claims_of(self, name: str) -> Claims:  # type: ignore[override]
        """The Claims of user ``name`` without a password check."""
        return _fleet.Users_claims_of(self, name)


class Auth(Handle, _swig.Auth):
    """The auth state of a directory: ``users.json`` and ``jwt.secret``
    (created on first use), with a verifier and a signer built from them.

    Its parts (``users``, ``verifier``, ``signer``) keep the bundle alive;
    once it is closed, their calls raise ClosedError.
    """

    def __init__(self, state_dir: str, **options: Any) -> None:
        super().__init__(state_dir, options or None)

    @property
    def users(self) -> Users:  # type: ignore[override]
        """The bundle's users file (a new handle on each access)."""
        return _fleet.Auth_users(self)

    @property
    def verifier(self) -> Verifier:  # type: ignore[override]
        """The bundle's verifier: add identity-provider keys to it."""
        return _fleet.Auth_verifier(self)

    @property
    def signer(self) -> Signer:  # type: ignore[override]
        """The bundle's signer (its jwt.secret, or the configured private key)."""
        return _fleet.Auth_signer(self)

    def login(self, name: str, password: str) -> Tuple[str, str]:  # type: ignore[override]
        """(access token, refresh token) for good credentials; AuthError otherwise."""
        return tuple(_fleet.Auth_login(self, name, password))  # type: ignore[return-value]

    def refresh(self, refresh_token: Union[str, bytes]) -> Tuple[str, str]:  # type: ignore[override]
        """Exchange a refresh token for (access token, new refresh token),
        with the user's current role and vehicles."""
        return tuple(_fleet.Auth_refresh(self, refresh_token))  # type: ignore[return-value]

    def verify(self, token: Union[str, bytes], expected: str = "access") -> Claims:
        """Verify a token with the bundle's verifier."""
        with self.verifier as v:
            return v.verify(token, expected)


for _cls, _ctype in ((Claims, "fleetswig_claims"), (Verifier, "fleetswig_verifier"),
                     (Signer, "fleetswig_signer"), (Users, "fleetswig_users"),
                     (Auth, "fleetswig_auth")):
    _swig.set_proxy_class(_ctype + " *", _cls)
del _cls, _ctype
