"""JWT issue and verify, passwords, users, the auth bundle."""

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import time

import pytest

import fleet
from fleet import auth

SECRET = b"s" * 32


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, payload, signature=b"x"):
    return ".".join((b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()),
                     b64url(signature)))


@pytest.fixture
def signer():
    with auth.Signer(SECRET, issuer="fleet-test") as s:
        yield s


@pytest.fixture
def verifier():
    with auth.Verifier(keys=[("HS256", SECRET)], issuer="fleet-test") as v:
        yield v


def test_issue_and_verify(signer, verifier):
    who = auth.Claims("alice", "admin", vehicles=["v-001", "v-002", "v-001"])
    assert who.vehicles == ["v-001", "v-002"]  # sorted, duplicates dropped
    token, exp = signer.issue_with_expiry(who)
    now = int(time.time())
    assert now + 900 - 5 <= exp <= now + 900 + 5
    c = verifier.verify(token)
    assert (c.subject, c.role, c.type, c.issuer) == ("alice", "admin", "access", "fleet-test")
    assert c.expires == exp and c.expires - c.issued_at == 900
    assert len(c.token_id) == 22
    assert c.allows("v-002") and not c.allows("v-003") and not c.all_vehicles
    assert c.to_dict()["sub"] == "alice"
    assert len(verifier) == 1
    refresh = signer.issue(who, "refresh", ttl_s=60)
    r = verifier.verify(refresh, "refresh")
    assert r.type == "refresh" and r.expires - r.issued_at == 60
    assert signer.ttl("refresh") == 604800


@pytest.mark.parametrize("tamper,reason", [
    (lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1], "signature"),
    (lambda t: t + ".x", "segments"),
    (lambda t: "", ""),
])
def test_refused_tokens(signer, verifier, tamper, reason):
    token = tamper(signer.issue(auth.Claims("bob")))
    with pytest.raises(fleet.AuthError, match=reason):
        verifier.verify(token)


def test_token_type_time_and_algorithm_checks(signer, verifier):
    who = auth.Claims("bob", vehicles="*")
    token = signer.issue(who, ttl_s=60)
    with pytest.raises(fleet.AuthError, match="refresh"):
        verifier.verify(token, "refresh")
    with pytest.raises(fleet.AuthError, match="expired"):
        verifier.verify(token, now=int(time.time()) + 3600)
    assert verifier.verify(token, now=int(time.time()) + 30).all_vehicles
    none = forge({"alg": "none", "typ": "JWT"}, {"sub": "bob", "role": "admin", "exp": 2**40}, b"")
    with pytest.raises(fleet.AuthError, match="none"):
        verifier.verify(none)
    other = auth.Signer(b"t" * 32, issuer="fleet-test").issue(who)
    with pytest.raises(fleet.AuthError):
        verifier.verify(other)
    wrong_issuer = auth.Signer(SECRET, issuer="elsewhere").issue(who)
    with pytest.raises(fleet.AuthError, match="iss"):
        verifier.verify(wrong_issuer)


def test_keys_with_kids():
    v = auth.Verifier()
    v.add_key("HS256", b"a" * 32, kid="k1")
    v.add_key("HS256", b"b" * 32, kid="k2")
    with pytest.raises(fleet.ExistsError):
        v.add_key("HS256", b"c" * 32, kid="k2")
    token = auth.Signer(b"b" * 32, kid="k2").issue(auth.Claims("carol"))
    assert v.verify(token).key_id == "k2"
    unknown = auth.Signer(b"b" * 32, kid="k9").issue(auth.Claims("carol"))
    with pytest.raises(fleet.AuthError, match="k9"):
        v.verify(unknown)
    with pytest.raises(fleet.InvalidArgument):
        v.add_key("HS256", b"short")
    with pytest.raises(fleet.InvalidArgument):
        v.add_key("none", b"x" * 32)
    with pytest.raises(fleet.InputOutputError):
        v.add_key_file("HS256", "/nonexistent/key")


def test_es256_and_no_algorithm_confusion(tmp_path):
    key, pub = tmp_path / "ec.key", tmp_path / "ec.pub"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    v = auth.Verifier()
    v.add_key_file("ES256", str(pub), kid="idp")
    s = auth.Signer(key.read_bytes(), "ES256", kid="idp")
    assert v.verify(s.issue(auth.Claims("dave"))).subject == "dave"
    # The public key text used as an HS256 secret (the classic algorithm
    # confusion attack) must never verify. libfleet's own signer refuses to
    # make such a token, so it is forged here.
    header = {"alg": "HS256", "typ": "JWT", "kid": "idp"}
    claims = {"sub": "mallory", "role": "admin", "vehicles": "*", "exp": int(time.time()) + 600}
    unsigned = forge(header, claims).rsplit(".", 1)[0]
    mac = hmac.new(pub.read_bytes(), unsigned.encode(), hashlib.sha256).digest()
    with pytest.raises(fleet.AuthError, match="HS256"):
        v.verify(unsigned + "." + b64url(mac))
    with pytest.raises(fleet.InvalidArgument, match="PEM"):
        auth.Signer(pub.read_bytes())


def test_claims_errors():
    with pytest.raises(fleet.InvalidArgument):
        auth.Claims("alice", "superuser")
    with pytest.raises(fleet.InvalidArgument):
        auth.Claims('a"b')
    c = auth.Claims("alice")
    assert c.vehicles == [] and not c.allows("v-1")
    with pytest.raises(fleet.InvalidArgument, match="bad id"):
        c.set_vehicles(["v-1", "bad id"])
    c.set_vehicles("*")
    assert c.vehicles == "*" and c.allows("anything")
    c.set_vehicles("")
    assert c.vehicles == []


def test_passwords():
    h = auth.hash_password("correct horse")
    assert h.startswith("$y$")
    assert auth.verify_password(h, "correct horse")
    assert not auth.verify_password(h, "wrong")
    auth.check_password(h, "correct horse")
    with pytest.raises(fleet.AuthError):
        auth.check_password(h, "wrong")
    with pytest.raises(fleet.InvalidArgument):
        auth.hash_password("")
    with pytest.raises(fleet.InvalidArgument):
        auth.hash_password("a\nb")
    assert auth.is_username("alice@example.com") and not auth.is_username("a b")


def test_users_file(tmp_path):
    path = str(tmp_path / "users.json")
    users = auth.Users(path)
    assert len(users) == 0
    users.add("bob", "pw-bob-1", "viewer", ["v-2", "v-1"])
    users.add("alice", "pw-alice-1", "admin")
    with pytest.raises(fleet.ExistsError):
        users.add("bob", "x", "viewer")
    assert [u["name"] for u in users.list()] == ["alice", "bob"]
    bob = users.get("bob")
    assert (bob["role"], bob["vehicles"]) == ("viewer", ["v-1", "v-2"])
    assert users.get("alice")["vehicles"] == "*"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    c = users.authenticate("bob", "pw-bob-1")
    assert (c.subject, c.role, c.vehicles) == ("bob", "viewer", ["v-1", "v-2"])
    with pytest.raises(fleet.AuthError, match="wrong password"):
        users.authenticate("bob", "nope")
    with pytest.raises(fleet.AuthError):
        users.authenticate("nobody", "nope")
    users.update("bob", "admin", [])
    assert users.claims_of("bob").role == "admin"
    users.set_password("bob", "pw-bob-2")
    users.authenticate("bob", "pw-bob-2")
    # Another handle changes the file; reload() sees it.
    other = auth.Users(path)
    other.remove("alice")
    assert users.reload() is True
    assert users.reload() is False
    assert [u["name"] for u in users.list()] == ["bob"]
    with pytest.raises(fleet.NotFoundError):
        users.remove("alice")
    with pytest.raises(fleet.NotFoundError):
        users.get("alice")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(fleet.ParseError):
        auth.Users(str(tmp_path / "bad.json"))


def test_bundle_login_refresh_and_parts(tmp_path):
    with auth.Auth(str(tmp_path), issuer="fleetd") as a:
        a.users.add("erin", "pw-erin-1", "viewer", ["v-7"])
        access, refresh = a.login("erin", "pw-erin-1")
        c = a.verify(access)
        assert (c.subject, c.issuer, c.vehicles) == ("erin", "fleetd", ["v-7"])
        with pytest.raises(fleet.AuthError):
            a.login("erin", "bad")
        a.users.update("erin", "admin", "*")
        new_access, new_refresh = a.refresh(refresh)
        assert a.verify(new_access).role == "admin"  # the user's current role
        assert a.verify(new_refresh, "refresh").type == "refresh"
        with pytest.raises(fleet.AuthError):
            a.refresh(access)
        a.users.remove("erin")
        with pytest.raises(fleet.AuthError):
            a.refresh(refresh)
        secret = tmp_path / "jwt.secret"
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
        assert len(auth.load_or_create_secret(str(secret))) == 48
        # A signer of the same secret is interchangeable with the bundle's.
        token = auth.Signer(auth.load_or_create_secret(str(secret)), issuer="fleetd").issue(
            auth.Claims("svc", "viewer"))
        assert a.verifier.verify(token).subject == "svc"


def test_secret_file(tmp_path):
    path = str(tmp_path / "s")
    first = auth.load_or_create_secret(path)
    assert first == auth.load_or_create_secret(path) and len(first) == 48
    os.chmod(path, 0o644)
    with pytest.raises(fleet.InvalidArgument):
        auth.load_or_create_secret(path)
