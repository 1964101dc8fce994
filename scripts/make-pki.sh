#!/usr/bin/env bash
# Makes (or completes) a TLS PKI for a libfleet deployment with openssl, all EC P-256:
#
#   make-pki.sh DIR [--devices N | --device-ids ID,ID,...] [--dns NAME,NAME,...]
#                   [--days N] [--revoke ID,ID,...] [--jobs N]
#
#   DIR/ca.crt, ca.key           the CA (basicConstraints critical CA:TRUE)
#   DIR/broker.crt, broker.key   MQTT broker: serverAuth, SAN DNS:localhost,
#                                IP:127.0.0.1 and every --dns name
#   DIR/gateway.crt, gateway.key fleetd's HTTPS/WSS listener: the same SANs, serverAuth
#   DIR/fleetd.crt, fleetd.key   fleetd's MQTT client identity: clientAuth, CN=fleetd
#   DIR/devices/ID.crt, ID.key   one per device: clientAuth, CN=ID (the vehicle id)
#   DIR/test/expired.crt, .key   CN=v-expired, valid only in January 2020
#   DIR/test/revoked.crt, .key   CN=v-revoked, listed in the CRL
#   DIR/crl.pem                  the CA's CRL (re-signed on every run)
#   DIR/ca/                      the CA's database (openssl ca: index.txt, serial)
#
# --devices N names devices v-001 ... v-N (at least 3 digits, so that a larger N
# keeps the earlier names);
# --device-ids names them explicitly. IDs are 1-64 chars of [A-Za-z0-9._-],
# the vehicle id rule, because the broker turns the CN into a user name that
# ACL patterns put into topics.
# --revoke ID,... revokes devices/ID.crt and re-signs the CRL; brokers read
# the CRL when they start, so restart (mosquitto) or reload them afterwards.
#
# Idempotent: whatever exists is kept (keys are never regenerated), whatever
# is missing is made, so adding devices is re-running with a larger list.
# Each certificate costs one openssl process (key, signature and certificate
# at once with `req -CA`), run --jobs at a time (default: the number of cores).
# Every run re-signs the CRL, whose nextUpdate is --days ahead: a broker with
# an expired CRL refuses every client, so re-run this before then.
# Keys are written mode 0600. Run it again as the broker's user or chown the
# broker's files when the broker runs under another uid (see docs/deploy.md).
set -euo pipefail

die() { echo "make-pki.sh: $*" >&2; exit 2; }
usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

dir="" ndev="" ids="" dns="" days=825 revoke="" jobs=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
  case $1 in
    --devices) [ $# -ge 2 ] || usage; ndev=$2; shift 2 ;;
    --device-ids) [ $# -ge 2 ] || usage; ids=$2; shift 2 ;;
    --dns) [ $# -ge 2 ] || usage; dns=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    --revoke) [ $# -ge 2 ] || usage; revoke=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) die "unknown option '$1'" ;;
    *) [ -z "$dir" ] || die "one DIR only ('$dir', '$1')"; dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || usage
[ -z "$ndev" ] || [ -z "$ids" ] || die "--devices and --device-ids exclude each other"
isnum() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
[ -z "$ndev" ] || isnum "$ndev" || die "--devices: '$ndev' is not a number"
isnum "$days" && [ "$days" -gt 0 ] || die "--days: '$days' is not a positive number"
isnum "$jobs" && [ "$jobs" -gt 0 ] || die "--jobs: '$jobs' is not a positive number"
command -v openssl >/dev/null || die "openssl not found (Debian package openssl)"

valid_id() {
  [ ${#1} -ge 1 ] && [ ${#1} -le 64 ] && [[ $1 =~ ^[A-Za-z0-9._-]+$ ]]
}
valid_dns() {
  [ ${#1} -ge 1 ] && [ ${#1} -le 253 ] && [[ $1 =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]
}

device_ids=()
if [ -n "$ndev" ]; then
  for ((i = 1; i <= ndev; i++)); do
    printf -v id 'v-%03d' "$i"
    device_ids+=("$id")
  done
elif [ -n "$ids" ]; then
  IFS=, read -r -a device_ids <<<"$ids"
fi
for id in "${device_ids[@]}"; do
  valid_id "$id" || die "device id '$id': 1-64 chars of [A-Za-z0-9._-]"
done
revoke_ids=()
[ -z "$revoke" ] || IFS=, read -r -a revoke_ids <<<"$revoke"
for id in "${revoke_ids[@]}"; do
  valid_id "$id" || die "--revoke: '$id' is not a device id"
done
san="DNS:localhost,IP:127.0.0.1"
if [ -n "$dns" ]; then
  IFS=, read -r -a names <<<"$dns"
  for n in "${names[@]}"; do
    valid_dns "$n" || die "--dns: '$n' is not a DNS name"
    san="$san,DNS:$n"
  done
fi

umask 022
mkdir -p "$dir/devices" "$dir/test" "$dir/ca"
dir=$(cd "$dir" && pwd)
cd "$dir"

# One configuration for every openssl call, so that the distribution's
# openssl.cnf adds no extension of its own.
cat >ca/openssl.cnf <<EOF
[ca]
default_ca = fleet_ca

[fleet_ca]
database = $dir/ca/index.txt
new_certs_dir = $dir/ca
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/ca/serial
crlnumber = $dir/ca/crlnumber
default_md = sha256
default_days = $days
default_crl_days = $days
policy = policy_cn
unique_subject = no
copy_extensions = none
x509_extensions = ext_client
crl_extensions = ext_crl

[policy_cn]
commonName = supplied

[req]
distinguished_name = dn_empty
prompt = no

[dn_empty]

[ext_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ext_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ext_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ext_crl]
authorityKeyIdentifier = keyid
EOF
export OPENSSL_CONF=$dir/ca/openssl.cnf
[ -f ca/index.txt ] || : >ca/index.txt
[ -f ca/serial ] || openssl rand -hex 16 >ca/serial
[ -f ca/crlnumber ] || echo 1000 >ca/crlnumber

# issue EXT CN OUTBASE: key and certificate signed by the CA in one openssl
# process. The certificate is written under a temporary name and renamed last,
# so an interrupted run never leaves a certificate without its key (and a key
# without a certificate is simply made again).
issue() {
  local ext=$1 cn=$2 out=$3 err
  [ -f "$out.crt" ] && return 0
  if ! err=$(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out.key" -subj "/CN=$cn" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -days "$days" -extensions "$ext" -out "$out.crt.tmp" 2>&1); then
    echo "$err" >&2
    rm -f "$out.crt.tmp"
    return 1
  fi
  mv "$out.crt.tmp" "$out.crt"
}

t0=$(date +%s%N)
if [ ! -f ca.crt ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key.tmp
  openssl req -new -x509 -key ca.key.tmp -subj "/CN=libfleet CA" -days "$days" \
    -extensions ext_ca -out ca.crt.tmp
  mv ca.key.tmp ca.key
  mv ca.crt.tmp ca.crt
fi
issue ext_server localhost broker
issue ext_server localhost gateway
issue ext_client fleetd fleetd

# Test certificates: one that has expired, one that is revoked. `openssl ca`
# sets notBefore/notAfter explicitly and records both in its database.
if [ ! -f test/expired.crt ]; then
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout test/expired.key.tmp -subj "/CN=v-expired" -out test/expired.csr 2>/dev/null
  openssl ca -batch -notext -in test/expired.csr -out test/expired.crt.tmp \
    -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
  rm -f test/expired.csr
  mv test/expired.key.tmp test/expired.key
  mv test/expired.crt.tmp test/expired.crt
fi
if [ ! -f test/revoked.crt ]; then
  issue ext_client v-revoked test/revoked
  openssl ca -revoke test/revoked.crt -crl_reason keyCompromise 2>/dev/null
fi

# Devices still missing, issued by --jobs workers that each take a batch (a
# shell per batch, not per certificate: process start-up is most of the cost).
missing=()
for id in "${device_ids[@]}"; do
  [ -f "devices/$id.crt" ] || missing+=("$id")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export -f issue
  export dir days
  batch=$(((${#missing[@]} + jobs - 1) / jobs))
  [ "$batch" -le 500 ] || batch=500
  printf '%s\n' "${missing[@]}" |
    xargs -P "$jobs" -n "$batch" bash -c 'for id; do issue ext_client "$id" "$dir/devices/$id" || exit 255; done' _
fi

for id in "${revoke_ids[@]}"; do
  [ -f "devices/$id.crt" ] || die "--revoke: devices/$id.crt does not exist"
  serial=$(openssl x509 -in "devices/$id.crt" -noout -serial | cut -d= -f2)
  if ! awk -F'\t' -v s="$serial" '$1 == "R" && $4 == s { found = 1 } END { exit !found }' ca/index.txt; then
    openssl ca -revoke "devices/$id.crt" -crl_reason keyCompromise 2>/dev/null
  fi
done

openssl ca -gencrl -out crl.pem.tmp 2>/dev/null
mv crl.pem.tmp crl.pem
t1=$(date +%s%N)

n=$(find devices -name '*.crt' | wc -l)
echo "make-pki.sh: $dir: CA, broker, gateway, fleetd, $n device certificate(s), CRL ($(((t1 - t0) / 1000000)) ms)"
