#!/usr/bin/env bash
# fleetctl user add/passwd/set/del/list/check and fleetctl token, end to end in
# a temporary state directory: exit codes 0/1/2, file modes, the users file,
# passwords from a pipe and from a terminal (no echo, asked twice), tokens
# issued, verified, refused (type, issuer, tampering, a replaced secret).
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}"
fleetctl="$FLEET_BUILD_DIR/apps/fleetctl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sd="$tmp/state"
mkdir "$sd"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# run, input, fail and the expect_* checks.
. "$(dirname "$0")/lib.sh"

mode_of() { stat -c %a "$1"; }

# claim NAME: a field of the JSON on stdout of the last run.
claim() {
  "$py" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if not isinstance(v,str) else v)' "$tmp/out" "$1"
}

# ---- help and usage errors ----
run "$fleetctl" user --help
expect_rc 0
expect_stdout_has "fleetctl user add NAME --role admin|viewer"
run "$fleetctl" token --help
expect_rc 0
expect_stdout_has "fleetctl token --verify [TOKEN|-]"
run "$fleetctl" user add --help
expect_rc 0
run "$fleetctl" user
expect_rc 2
run "$fleetctl" user frobnicate x --state-dir "$sd"
expect_rc 2
expect_stderr_has "unknown subcommand 'frobnicate'"
run "$fleetctl" user add --role admin --state-dir "$sd"
expect_rc 2
expect_stderr_has "NAME is missing"
run "$fleetctl" user add alice --state-dir "$sd"
expect_rc 2
expect_stderr_has "--role admin|viewer is required"
run "$fleetctl" user add alice --role root --state-dir "$sd"
expect_rc 2
expect_stderr_has "'root' is not admin or viewer"
run "$fleetctl" user add "bad name" --role admin --state-dir "$sd"
expect_rc 2
expect_stderr_has "is not a user name"
run "$fleetctl" user add alice --role admin --state-dir
expect_rc 2
expect_stderr_has "--state-dir needs a value"
run "$fleetctl" user del alice --bogus --state-dir "$sd"
expect_rc 2
run "$fleetctl" user list extra --state-dir "$sd"
expect_rc 2
run env -u FLEET_STATE_DIR "$fleetctl" user list
expect_rc 1
expect_stderr_has "give --state-dir DIR or set FLEET_STATE_DIR"
run "$fleetctl" user list --state-dir "$tmp/nope"
expect_rc 1
expect_stderr_has "No such file or directory"
run "$fleetctl" token --state-dir "$sd"
expect_rc 2
run "$fleetctl" token alice --ttl 0 --state-dir "$sd"
expect_rc 2
expect_stderr_has "--ttl: '0' is not a number of seconds"
run "$fleetctl" token --verify abc --ttl 5 --state-dir "$sd"
expect_rc 2

# ---- an empty state directory ----
run "$fleetctl" user list --state-dir "$sd"
expect_rc 0
expect_stdout <<'EOF'
NAME                     ROLE    CREATED              UPDATED              VEHICLES
EOF
expect_true test ! -e "$sd/users.json"

# ---- add, from a pipe ----
input 'alice-pw\n'
run "$fleetctl" user add alice --role admin --state-dir "$sd"
expect_rc 0
expect_stderr <<'EOF'
fleetctl user add: added 'alice'
EOF
input 'bob-pw\r\n'
run env FLEET_STATE_DIR="$sd" "$fleetctl" user add bob --role viewer --vehicles v-2,v-1,v-2
expect_rc 0
input 'carl-pw\n'
run "$fleetctl" user add carl --role viewer --vehicles= --state-dir="$sd"
expect_rc 0
expect_true test "$(mode_of "$sd/users.json")" = 600
# Only the users file and its lock file: no temporary file left behind.
expect_true test "$(ls -A "$sd" | sort | tr '\n' ' ')" = "users.json users.json.lock "
expect_true grep -q '"\$y\$' "$sd/users.json"
expect_true test "$(grep -c 'alice-pw' "$sd/users.json")" = 0

# Refused: duplicate, empty password, no password, bad vehicle list.
input 'x\n'
run "$fleetctl" user add alice --role viewer --state-dir "$sd"
expect_rc 1
expect_stderr_has "user 'alice' exists already"
input '\n'
run "$fleetctl" user add dan --role viewer --state-dir "$sd"
expect_rc 1
expect_stderr_has "refusing an empty password"
run "$fleetctl" user add dan --role viewer --state-dir "$sd"
expect_rc 1
expect_stderr_has "no password on standard input"
input 'pw\n'
run "$fleetctl" user add dan --role viewer --vehicles 'v-1,no pe' --state-dir "$sd"
expect_rc 1
expect_stderr_has "'no pe' is not a vehicle id"
input 'a\000b\n'
run "$fleetctl" user add dan --role viewer --state-dir "$sd"
expect_rc 1
expect_stderr_has "no password on standard input"

# ---- list ----
run "$fleetctl" user list --state-dir "$sd"
expect_rc 0
sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/TIME/g' "$tmp/out" >"$tmp/out2"
mv "$tmp/out2" "$tmp/out"
expect_stdout <<'EOF'
NAME                     ROLE    CREATED              UPDATED              VEHICLES
alice                    admin   TIME TIME *
bob                      viewer  TIME TIME v-1,v-2
carl                     viewer  TIME TIME (none)
EOF
run "$fleetctl" user list --json --state-dir "$sd"
expect_rc 0
"$py" - "$tmp/out" <<'EOF' || { echo "FAIL: user list --json content" >&2; failures=$((failures + 1)); }
import json, sys
users = json.load(open(sys.argv[1]))
assert [u["name"] for u in users] == ["alice", "bob", "carl"], users
assert users[0]["vehicles"] == "*" and users[0]["role"] == "admin"
assert users[1]["vehicles"] == ["v-1", "v-2"] and users[1]["role"] == "viewer"
assert users[2]["vehicles"] == []
assert all(u["created"].endswith("Z") and u["created"] == u["updated"] for u in users)
EOF
checks=$((checks + 1))

# ---- check and passwd ----
input 'bob-pw\n'
run "$fleetctl" user check bob --state-dir "$sd"
expect_rc 0
expect_stdout <<'EOF'
ok: bob (viewer)
EOF
input 'alice-pw\n'
run "$fleetctl" user check bob --state-dir "$sd"
expect_rc 1
expect_stderr_has "user 'bob': wrong password"
input 'bob-pw\n'
run "$fleetctl" user check nobody --state-dir "$sd"
expect_rc 1
expect_stderr_has "user 'nobody': unknown user"
input 'new-bob-pw\n'
run "$fleetctl" user passwd bob --state-dir "$sd"
expect_rc 0
input 'bob-pw\n'
run "$fleetctl" user check bob --state-dir "$sd"
expect_rc 1
input 'new-bob-pw\n'
run "$fleetctl" user check bob --state-dir "$sd"
expect_rc 0
input 'x\n'
run "$fleetctl" user passwd nobody --state-dir "$sd"
expect_rc 1
expect_stderr_has "no user 'nobody'"

# ---- passwords typed on a terminal: no echo, asked twice ----
"$py" - "$fleetctl" "$sd" <<'EOF' || { echo "FAIL: terminal password entry" >&2; failures=$((failures + 1)); }
import os, pty, select, sys, time
fleetctl, sd = sys.argv[1], sys.argv[2]

def on_tty(args, answers):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(fleetctl, [fleetctl] + args)
    out = b""
    deadline = time.time() + 20
    pending = list(answers)
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
            # Answer only right after a prompt ("...: "), never after its echo.
            if pending and out.endswith(b": "):
                os.write(fd, pending.pop(0))
    done, st = os.waitpid(pid, os.WNOHANG)
    for _ in range(50):
        if done:
            break
        time.sleep(0.1)
        done, st = os.waitpid(pid, os.WNOHANG)
    if not done:
        os.kill(pid, 9)
        _, st = os.waitpid(pid, 0)
        raise SystemExit("fleetctl %s hung on the terminal; output so far: %r" % (args, out))
    return os.waitstatus_to_exitcode(st), out.decode()

rc, out = on_tty(["user", "add", "tess", "--role", "viewer", "--state-dir", sd],
                 [b"tty-secret\n", b"tty-secret\n"])
assert rc == 0, (rc, out)
assert "New password for tess:" in out and "Repeat the password:" in out, out
assert "tty-secret" not in out, "the password was echoed: " + out
rc, out = on_tty(["user", "add", "uma", "--role", "viewer", "--state-dir", sd],
                 [b"one\n", b"two\n"])
assert rc == 1 and "the passwords differ" in out, (rc, out)
rc, out = on_tty(["user", "check", "tess", "--state-dir", sd], [b"tty-secret\n"])
assert rc == 0 and "ok: tess" in out and "tty-secret" not in out, (rc, out)
EOF
checks=$((checks + 1))

# ---- set and del ----
run "$fleetctl" user set bob --role admin --state-dir "$sd"
expect_rc 0
run "$fleetctl" user set carl --vehicles v-9 --state-dir "$sd"
expect_rc 0
run "$fleetctl" user list --json --state-dir "$sd"
"$py" - "$tmp/out" <<'EOF' || { echo "FAIL: user set" >&2; failures=$((failures + 1)); }
import json, sys
u = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert u["bob"]["role"] == "admin" and u["bob"]["vehicles"] == ["v-1", "v-2"], u["bob"]
assert u["carl"]["role"] == "viewer" and u["carl"]["vehicles"] == ["v-9"], u["carl"]
EOF
checks=$((checks + 1))
run "$fleetctl" user set nobody --role admin --state-dir "$sd"
expect_rc 1

# ---- tokens ----
expect_true test ! -e "$sd/jwt.secret"
run "$fleetctl" token carl --state-dir "$sd"
expect_rc 0
access=$(cat "$tmp/out")
expect_true test "$(mode_of "$sd/jwt.secret")" = 600
expect_true test "$(stat -c %s "$sd/jwt.secret")" = 48
run "$fleetctl" token --verify "$access" --state-dir "$sd"
expect_rc 0
expect_true test "$(claim sub)" = carl
expect_true test "$(claim role)" = viewer
expect_true test "$(claim vehicles)" = '["v-9"]'
expect_true test "$(claim tt)" = access
expect_true test "$(( $(claim exp) - $(claim iat) ))" = 900
# From standard input, with and without '-'.
input "$access\n"
run "$fleetctl" token --verify - --state-dir "$sd"
expect_rc 0
input "$access\n"
run "$fleetctl" token --verify --state-dir "$sd"
expect_rc 0
expect_true test "$(claim sub)" = carl

run "$fleetctl" token alice --ttl 60 --refresh --state-dir "$sd"
expect_rc 0
refresh=$(cat "$tmp/out")
run "$fleetctl" token --verify "$refresh" --refresh --state-dir "$sd"
expect_rc 0
expect_true test "$(claim tt)" = refresh
expect_true test "$(claim vehicles)" = '*'
expect_true test "$(( $(claim exp) - $(claim iat) ))" = 60
# Types do not mix.
run "$fleetctl" token --verify "$refresh" --state-dir "$sd"
expect_rc 1
expect_stderr_has "refused: refresh token presented where an access token is required"
run "$fleetctl" token --verify "$access" --refresh --state-dir "$sd"
expect_rc 1
expect_stderr_has "access token presented where a refresh token is required"

# Tampered, malformed, empty, alg none.
tampered="${access%.*}.$(printf '%s' "${access##*.}" | tr 'A-Za-z' 'B-ZAb-za')"
run "$fleetctl" token --verify "$tampered" --state-dir "$sd"
expect_rc 1
expect_stderr_has "signature invalid"
run "$fleetctl" token --verify not.a-token --state-dir "$sd"
expect_rc 1
expect_stderr_has "malformed token: 2 segments"
run "$fleetctl" token --verify --state-dir "$sd"
expect_rc 1
expect_stderr_has "refused: no token"
none_token="$(printf '{"alg":"none"}' | base64 | tr '+/' '-_' | tr -d '=\n').$(printf '{"sub":"carl","role":"admin","exp":9999999999}' | base64 -w0 | tr '+/' '-_' | tr -d '=')."
run "$fleetctl" token --verify "$none_token" --state-dir "$sd"
expect_rc 1
expect_stderr_has "alg 'none' is never accepted"

# Issuer and audience.
run "$fleetctl" token carl --issuer fleet-a --audience dash --state-dir "$sd"
expect_rc 0
with_iss=$(cat "$tmp/out")
run "$fleetctl" token --verify "$with_iss" --issuer fleet-a --audience dash --state-dir "$sd"
expect_rc 0
expect_true test "$(claim iss)" = fleet-a
run "$fleetctl" token --verify "$with_iss" --issuer fleet-b --state-dir "$sd"
expect_rc 1
expect_stderr_has "iss: 'fleet-a' is not the expected issuer 'fleet-b'"
run "$fleetctl" token --verify "$access" --audience dash --state-dir "$sd"
expect_rc 1
expect_stderr_has "aud: missing"

# Unknown and deleted users get no token.
run "$fleetctl" token nobody --state-dir "$sd"
expect_rc 1
expect_stderr_has "no user 'nobody'"
run "$fleetctl" user del carl --state-dir "$sd"
expect_rc 0
expect_stderr_has "deleted 'carl'"
run "$fleetctl" token carl --state-dir "$sd"
expect_rc 1
run "$fleetctl" user del carl --state-dir "$sd"
expect_rc 1
expect_stderr_has "no user 'carl'"

# A new secret invalidates every token signed with the old one.
rm "$sd/jwt.secret"
run "$fleetctl" token --verify "$refresh" --refresh --state-dir "$sd"
expect_rc 1
expect_stderr_has "signature invalid"
# A secret readable by others is refused.
chmod 644 "$sd/jwt.secret"
run "$fleetctl" token alice --state-dir "$sd"
expect_rc 1
expect_stderr_has "chmod 600"
chmod 600 "$sd/jwt.secret"

# A damaged users file is reported, not overwritten.
cp "$sd/users.json" "$tmp/users.bak"
printf '{"version":1,"users":[{"name":"x"}' >"$sd/users.json"
input 'pw\n'
run "$fleetctl" user add zed --role viewer --state-dir "$sd"
expect_rc 1
expect_stderr_has "users.json"
expect_true test "$(cat "$sd/users.json")" = '{"version":1,"users":[{"name":"x"}'
cp "$tmp/users.bak" "$sd/users.json"

echo "fleetctl user/token: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
