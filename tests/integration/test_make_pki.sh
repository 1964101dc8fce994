#!/usr/bin/env bash
# scripts/make-pki.sh: the certificates it makes (extensions, names, validity),
# idempotence (keys kept, missing devices added), --revoke and the CRL, and
# the arguments it refuses.
set -euo pipefail

src=${FLEET_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
pki_sh=$src/scripts/make-pki.sh
tmp=$(mktemp -d /tmp/fleet-make-pki.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
d=$tmp/pki

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what"
    failed=$((failed + 1))
  fi
}
has() { grep -qF -- "$2" <<<"$1"; }
ext() { openssl x509 -in "$1" -noout -subject -ext "$2" 2>/dev/null; }
verify() { openssl verify -crl_check -CAfile "$d/ca.crt" -CRLfile "$d/crl.pem" "$1" 2>&1; }

"$pki_sh" "$d" --devices 3 --dns broker.example.org >"$tmp/out"
check "reports what it made" grep -q '3 device certificate(s)' "$tmp/out"

check "CA: critical CA:TRUE" has "$(ext "$d/ca.crt" basicConstraints)" "critical"
check "CA: CA:TRUE" has "$(ext "$d/ca.crt" basicConstraints)" "CA:TRUE"
check "CA: EC P-256" has "$(openssl x509 -in "$d/ca.crt" -noout -text)" "prime256v1"
b=$(ext "$d/broker.crt" subjectAltName,extendedKeyUsage,basicConstraints)
check "broker: SAN localhost" has "$b" "DNS:localhost"
check "broker: SAN 127.0.0.1" has "$b" "IP Address:127.0.0.1"
check "broker: SAN from --dns" has "$b" "DNS:broker.example.org"
check "broker: serverAuth" has "$b" "TLS Web Server Authentication"
check "broker: not a CA" has "$b" "CA:FALSE"
g=$(ext "$d/gateway.crt" subjectAltName,extendedKeyUsage)
check "gateway: serverAuth with the same SANs" has "$g" "DNS:localhost, IP Address:127.0.0.1, DNS:broker.example.org"
f=$(ext "$d/fleetd.crt" extendedKeyUsage)
check "fleetd: CN fleetd" has "$f" "subject=CN = fleetd"
check "fleetd: clientAuth" has "$f" "TLS Web Client Authentication"
v=$(ext "$d/devices/v-002.crt" extendedKeyUsage,basicConstraints)
check "device: CN = vehicle id" has "$v" "subject=CN = v-002"
check "device: clientAuth" has "$v" "TLS Web Client Authentication"
check "device: not a CA" has "$v" "CA:FALSE"
check "device: only v-001..v-003" test "$(ls "$d/devices" | tr '\n' ' ')" = \
  "v-001.crt v-001.key v-002.crt v-002.key v-003.crt v-003.key "
check "device key matches its certificate" test \
  "$(openssl x509 -in "$d/devices/v-001.crt" -noout -pubkey)" = \
  "$(openssl pkey -in "$d/devices/v-001.key" -pubout)"
check "keys are private (0600)" test "$(stat -c %a "$d/devices/v-001.key") $(stat -c %a "$d/ca.key")" = "600 600"

check "valid certificates verify with the CRL" has "$(verify "$d/devices/v-003.crt")" ": OK"
check "the expired test certificate: expired" has "$(verify "$d/test/expired.crt")" "certificate has expired"
check "the revoked test certificate: revoked" has "$(verify "$d/test/revoked.crt")" "certificate revoked"

# Re-running keeps every key and certificate, and adds what is missing.
sum1=$(cat "$d"/ca.key "$d"/devices/*.key "$d"/*.crt | sha256sum)
"$pki_sh" "$d" --devices 3 >/dev/null
check "a second run changes no key or certificate" test \
  "$(cat "$d"/ca.key "$d"/devices/*.key "$d"/*.crt | sha256sum)" = "$sum1"
k1=$(sha256sum <"$d/devices/v-001.key")
"$pki_sh" "$d" --device-ids v-001,truck.7_A >/dev/null
check "--device-ids adds truck.7_A" test -f "$d/devices/truck.7_A.crt"
check "--device-ids keeps v-001's key" test "$(sha256sum <"$d/devices/v-001.key")" = "$k1"
# A key left without its certificate (an interrupted run) is replaced.
rm "$d/devices/v-003.crt"
"$pki_sh" "$d" --devices 3 >/dev/null
check "an interrupted device is completed" has "$(verify "$d/devices/v-003.crt")" ": OK"
check "its key matches" test "$(openssl x509 -in "$d/devices/v-003.crt" -noout -pubkey)" = \
  "$(openssl pkey -in "$d/devices/v-003.key" -pubout)"

# Revocation.
"$pki_sh" "$d" --revoke v-002 >/dev/null
check "--revoke: v-002 is revoked" has "$(verify "$d/devices/v-002.crt")" "certificate revoked"
check "--revoke: v-001 is still valid" has "$(verify "$d/devices/v-001.crt")" ": OK"
"$pki_sh" "$d" --revoke v-002 >/dev/null
check "--revoke twice lists the certificate once" test \
  "$(openssl crl -in "$d/crl.pem" -noout -text | grep -c 'Serial Number')" = 2

# Refused arguments (exit status 2, nothing made).
refused() { ! "$pki_sh" "$@" >/dev/null 2>&1; }
check "refuses an id with a slash" refused "$tmp/bad" --device-ids 'a/b'
check "refuses an id with '+'" refused "$tmp/bad" --device-ids 'v+1'
check "refuses a 65-char id" refused "$tmp/bad" --device-ids "$(printf 'a%.0s' $(seq 65))"
check "refuses --devices and --device-ids together" refused "$tmp/bad" --devices 2 --device-ids a
check "refuses a bad DNS name" refused "$tmp/bad" --dns 'a b'
check "refuses --revoke of an unknown device" refused "$d" --revoke v-999
check "refuses a missing DIR" refused --devices 2
check "a refused run made nothing" test ! -e "$tmp/bad"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
