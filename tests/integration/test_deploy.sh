#!/usr/bin/env bash
# Checks every file of deploy/ with the tools a Debian 12 machine has, without a
# container engine or a cluster:
# - yamllint on all YAML (.yamllint);
# - docker-compose 1.29 `config` (the Compose schema, variables, env files) on
#   deploy/docker-compose.yml, plus its health checks and in-repo mounts;
# - the Dockerfile: dockerfile-utils lint (npm; hadolint is not packaged for
#   Debian 12), its stages, a non-root user, the health check, Debian 12 bases,
#   and that the runtime stage installs the package of every shared library
#   fleetd and libfleet load, and the build stage every -dev package CMake needs;
# - the Kubernetes manifests against the API schemas and each other
#   (deploy/validate/validate-k8s.mjs, kubernetes-models from npm);
# - every FLEET_* variable in the Compose file and the manifests is one fleetd
#   knows, and fleetd --check-config accepts the manifests' configuration;
# - systemd-analyze verify and security (exposure <= 2.0) on the unit;
# - logrotate -d on the logrotate snippet.
# mosquitto-tls.conf and its ACLs run for real in test_mqtt_tls.sh.
# Each checker is also shown a broken copy, which it must refuse.
set -uo pipefail

src=${FLEET_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FLEET_BUILD_DIR:-}
deploy=$src/deploy
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/fleet-deploy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
note() { echo "# $*"; }
need() {
  command -v "$1" >/dev/null && return 0
  not_ok "$1 is not installed (scripts/deps.sh installs $2)"
  return 1
}

fleetd=""
for f in "$build/apps/fleetd" "$build/apps/fleetd/fleetd"; do
  [ -f "$f" ] && [ -x "$f" ] && fleetd=$f && break
done

# ---- yamllint ----
if need yamllint yamllint; then
  mapfile -t yamls < <(find "$deploy" -path '*/node_modules' -prune -o \
    \( -name '*.yml' -o -name '*.yaml' \) -print | sort)
  if out=$(yamllint -f parsable -c "$src/.yamllint" "${yamls[@]}" 2>&1); then
    ok "yamllint: ${#yamls[@]} files"
  else
    not_ok "yamllint:"$'\n'"$out"
  fi
  printf 'a: 1\na: 2\nb:   [1,2]\n' >"$tmp/bad.yaml"
  yamllint -c "$src/.yamllint" "$tmp/bad.yaml" >/dev/null 2>&1 &&
    not_ok "yamllint accepts a duplicate key" || ok "yamllint refuses a broken file"
fi

# ---- docker-compose ----
mkdir -p "$tmp/secrets" "$tmp/pki"
printf 'INFLUXDB_ADMIN_PASSWORD=x\nFLEET_INFLUX_PASSWORD=x\n' >"$tmp/secrets/influx.env"
if need docker-compose docker-compose; then
  if FLEET_SECRETS_DIR=$tmp/secrets FLEET_PKI_DIR=$tmp/pki \
    docker-compose -f "$deploy/docker-compose.yml" config >"$tmp/compose.yml" 2>"$tmp/compose.err"; then
    ok "docker-compose config"
    if "$PY" - "$tmp/compose.yml" "$deploy" <<'EOF'; then ok "compose: health checks, no root user, in-repo mounts exist"; else not_ok "compose: see above"; fi
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
deploy = sys.argv[2]
bad = []
for name in ("mosquitto", "influxdb", "fleetd"):
    svc = doc["services"].get(name)
    if svc is None:
        bad.append(f"no service {name}")
        continue
    if "healthcheck" not in svc:
        bad.append(f"{name}: no healthcheck")
    if str(svc.get("user", "")).split(":")[0] in ("root", "0"):
        bad.append(f"{name}: runs as root")
    for v in svc.get("volumes", []):
        source = v.get("source", "") if isinstance(v, dict) else v.split(":")[0]
        if source.startswith(deploy) and not os.path.exists(source):
            bad.append(f"{name}: mount source {source} does not exist")
deps = doc["services"]["fleetd"].get("depends_on", {})
for d in ("mosquitto", "influxdb"):
    if deps.get(d, {}).get("condition") != "service_healthy":
        bad.append(f"fleetd does not wait for a healthy {d}")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
  else
    not_ok "docker-compose config: $(cat "$tmp/compose.err")"
  fi
  sed 's/^services:/servicess:/' "$deploy/docker-compose.yml" >"$tmp/bad-compose.yml"
  FLEET_SECRETS_DIR=$tmp/secrets docker-compose -f "$tmp/bad-compose.yml" config >/dev/null 2>&1 &&
    not_ok "docker-compose accepts an unknown top-level key" ||
    ok "docker-compose config refuses a broken file"
fi

# ---- npm tools (kubernetes-models, dockerfile-utils) ----
validate=$deploy/validate
npm_ok=0
if need node nodejs && need npm npm; then
  if [ -d "$validate/node_modules" ] && [ "$validate/node_modules" -nt "$validate/package-lock.json" ]; then
    npm_ok=1
  elif (cd "$validate" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1; then
    npm_ok=1
  else
    not_ok "npm ci in deploy/validate failed: $(tail -n 5 "$tmp/npm.log")"
  fi
fi

# ---- Dockerfile ----
df=$deploy/Dockerfile
if [ $npm_ok = 1 ]; then
  if out=$("$validate/node_modules/.bin/dockerfile-utils" lint "$df" 2>&1) && ! grep -q 'Error:' <<<"$out"; then
    ok "dockerfile-utils lint"
    [ -z "$out" ] || note "$out"
  else
    not_ok "dockerfile-utils lint:"$'\n'"$out"
  fi
  printf 'FROM debian:12\nRUNN true\nHEALTHCHECK --interval=5 CMD true\n' >"$tmp/Dockerfile.bad"
  "$validate/node_modules/.bin/dockerfile-utils" lint "$tmp/Dockerfile.bad" >/dev/null 2>&1 &&
    not_ok "dockerfile-utils accepts a broken Dockerfile" || ok "dockerfile-utils refuses a broken Dockerfile"
fi
if command -v hadolint >/dev/null; then
  hadolint "$df" && ok "hadolint" || not_ok "hadolint"
else
  note "hadolint: not packaged for Debian 12 (apt-cache policy hadolint: no candidate); dockerfile-utils instead"
fi
# Structure: stages, the final stage's user, health check and entrypoint.
"$PY" - "$df" <<'EOF' && ok "Dockerfile: Debian 12 bases, known stages, non-root runtime with health check" || not_ok "Dockerfile structure"
import re, sys
lines, cur = [], ""
for raw in open(sys.argv[1]):
    line = raw.rstrip("\n")
    if line.lstrip().startswith("#") and not cur:
        continue
    if line.endswith("\\"):
        cur += line[:-1] + " "
        continue
    cur += line
    if cur.strip():
        lines.append(cur.strip())
    cur = ""
args = {}
stages, bad = [], []
final = None
for l in lines:
    word, _, rest = l.partition(" ")
    word = word.upper()
    if word == "ARG" and not stages:
        k, _, v = rest.partition("=")
        args[k] = v
    if word == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        image = re.sub(r"\$\{(\w+)\}", lambda g: args.get(g.group(1), ""), m.group(1))
        if not re.match(r"(debian:12|debian:bookworm|.*bookworm)", image):
            bad.append(f"base image {image} is not Debian 12")
        stages.append(m.group(2))
        final = {"user": None, "health": False, "entry": None}
    if word == "COPY":
        m = re.search(r"--from=(\S+)", rest)
        if m and m.group(1) not in stages[:-1]:
            bad.append(f"COPY --from={m.group(1)}: no earlier stage of that name")
    if word == "USER":
        final["user"] = rest
    if word == "HEALTHCHECK":
        final["health"] = "/healthz" in rest
    if word == "ENTRYPOINT":
        final["entry"] = rest
if not final or final["user"] in (None, "root", "0", "0:0"):
    bad.append("the runtime stage runs as root")
if not final or not final["health"]:
    bad.append("the runtime stage has no HEALTHCHECK on /healthz")
if not final or "/usr/bin/fleetd" not in (final["entry"] or ""):
    bad.append("the runtime stage's ENTRYPOINT is not fleetd")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
# apt package lists of the stages: the first apt-get install is the build
# stage's, the last the runtime's.
apt_lists=$("$PY" - "$df" <<'EOF'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
for m in re.finditer(r"apt-get install ([^&]*)", text):
    print(" ".join(w for w in m.group(1).split() if not w.startswith("-")))
EOF
)
build_pkgs=" $(head -n 1 <<<"$apt_lists") "
runtime_pkgs=" $(tail -n 1 <<<"$apt_lists") "
# Build stage: the -dev package of every pkg-config module CMakeLists.txt requires.
missing=""
for mod in $(sed -n 's/^fleet_require([A-Z_]* \([^ )]*\)).*/\1/p' "$src/CMakeLists.txt"); do
  pc=$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null)/$mod.pc
  pkg=$(dpkg -S "$pc" 2>/dev/null | head -n 1 | cut -d: -f1)
  [ -n "$pkg" ] || pkg="?($mod)"
  [[ $build_pkgs == *" $pkg "* ]] || missing="$missing $pkg"
done
[ -z "$missing" ] && ok "Dockerfile build stage installs every -dev package CMake needs" ||
  not_ok "Dockerfile build stage lacks:$missing"
# Runtime stage: the package of every library fleetd and libfleet link to
# directly (their own dependencies come with them), unless Debian's base image
# has it (libc6, essential and required packages).
libs=""
lib=$(find "$build" -maxdepth 2 -name 'libfleet.so.[0-9]*' -type f 2>/dev/null | head -n 1)
for bin in "$lib" "$fleetd"; do
  [ -n "$bin" ] && [ -f "$bin" ] || continue
  for so in $(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }'); do
    libs="$libs $(ldd "$bin" | awk -v so="$so" '$1 == so && $3 ~ /^\// { print $3 }')"
  done
done
if [ -z "$lib" ] || [ -z "$fleetd" ]; then
  not_ok "libfleet.so or fleetd not built in '$build': cannot check the runtime packages"
elif ldd "$lib" | grep -q 'lib\(a\|ub\)san'; then
  note "sanitizer build: runtime packages not checked (the image is built without sanitizers)"
else
  missing=""
  for l in $(tr ' ' '\n' <<<"$libs" | grep -v "^$build" | sort -u); do
    real=$(readlink -f "$l")
    pkg=""
    for p in "$l" "$real" "/usr$l" "/usr$real" "${l#/usr}" "${real#/usr}"; do
      pkg=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    [ -n "$pkg" ] || { missing="$missing ?($l)"; continue; }
    [[ $runtime_pkgs == *" $pkg "* ]] && continue
    [ "$pkg" = libc6 ] && continue
    prio=$(dpkg-query -W -f='${Essential} ${Priority}' "$pkg" 2>/dev/null)
    case $prio in yes* | *required) continue ;; esac
    missing="$missing $pkg"
  done
  [ -z "$missing" ] && ok "Dockerfile runtime stage installs every shared library's package" ||
    not_ok "Dockerfile runtime stage lacks:$(tr ' ' '\n' <<<"$missing" | sort -u | tr '\n' ' ')"
fi

# ---- Kubernetes ----
if [ $npm_ok = 1 ]; then
  if out=$(node "$validate/validate-k8s.mjs" "$deploy/k8s" 2>&1); then
    ok "Kubernetes manifests: $(tail -n 1 <<<"$out")"
  else
    not_ok "Kubernetes manifests:"$'\n'"$out"
  fi
  cp -r "$deploy/k8s" "$tmp/k8s-bad"
  sed -i '0,/  replicas: 3/s//  replicas: "3"/' "$tmp/k8s-bad/emqx.yaml"
  sed -i 's/key: cookie$/key: cookies/' "$tmp/k8s-bad/emqx.yaml"
  sed -i 's/claimName: fleetd-shared$/claimName: fleetd-sharde/' "$tmp/k8s-bad/fleetd-gateway.yaml"
  sed -i 's/^                  name: https$/                  name: wss/' "$tmp/k8s-bad/fleetd-gateway.yaml"
  out=$(node "$validate/validate-k8s.mjs" "$tmp/k8s-bad" 2>&1)
  if grep -q 'replicas must be integer' <<<"$out" && grep -q 'has no key cookies' <<<"$out" &&
    grep -q 'no PersistentVolumeClaim fleetd-sharde' <<<"$out" &&
    grep -q 'Service fleetd-gateway has no port wss' <<<"$out"; then
    ok "the manifest check refuses a string replica count, a missing Secret key, claim and Ingress backend port"
  else
    not_ok "the manifest check missed planted errors: $out"
  fi
fi
note "kubeconform/kubeval (strict unknown-field checks) are not packaged for Debian 12 or on npm with offline schemas; misspelt optional fields are not caught"
note "EMQX's emqx.conf (HOCON) and acl.conf are not checked: no EMQX here"

# ---- fleetd's configuration names and values ----
vars=$(grep -rhoE '\bFLEET_[A-Z0-9_]+' "$deploy/docker-compose.yml" "$deploy/k8s" "$deploy/systemd" |
  grep -vE '^FLEET_(PKI_DIR|SECRETS_DIR)$' | sort -u)
if [ -z "$fleetd" ]; then
  not_ok "fleetd not built in '$build': configuration names not checked"
else
  help=$("$fleetd" --help 2>&1)
  unknown=""
  for v in $vars; do grep -qw -- "$v" <<<"$help" || unknown="$unknown $v"; done
  [ -z "$unknown" ] && ok "every FLEET_* variable of deploy/ is one fleetd knows ($(wc -w <<<"$vars"))" ||
    not_ok "variables fleetd does not know:$unknown"
  # The manifests' ConfigMap, with its file paths moved into $tmp.
  "$src/scripts/make-pki.sh" "$tmp/pki" >/dev/null
  echo token >"$tmp/influx-token"
  env_args=()
  while IFS='=' read -r k v; do
    v=${v//\/etc\/fleetd\/tls\/fleetd/$tmp/pki/fleetd}
    v=${v//\/etc\/fleetd\/tls\//$tmp/pki/}
    v=${v//\/etc\/fleetd\/secrets\/influx-token/$tmp/influx-token}
    env_args+=("$k=$v")
  done < <("$PY" - "$deploy/k8s/fleetd-ingest.yaml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "fleetd-config":
        for k, v in d["data"].items():
            print(f"{k}={v}")
EOF
)
  if out=$(env -i PATH="$PATH" STATE_DIRECTORY="$tmp/state" "${env_args[@]}" \
    FLEET_MQTT_CLIENT_ID=fleetd-ingest-0 "$fleetd" --check-config 2>&1); then
    ok "fleetd --check-config accepts the ingest ConfigMap"
  else
    not_ok "fleetd --check-config on the ingest ConfigMap: $out"
  fi
  if env -i PATH="$PATH" STATE_DIRECTORY="$tmp/state" "${env_args[@]}" FLEET_INFLUX_API=v4 \
    "$fleetd" --check-config >/dev/null 2>&1; then
    not_ok "fleetd --check-config accepts influx.api v4"
  else
    ok "fleetd --check-config refuses a bad value"
  fi
  # Each fleetd workload as its pod runs it: the ConfigMap, the container's
  # own env values and its args, paths moved into $tmp; the role it must
  # end up with.
  mkdir -p "$tmp/web" "$tmp/shared"
  echo '<html></html>' >"$tmp/web/index.html"
  shared_env=()
  for e in "${env_args[@]}"; do shared_env+=("${e//\/var\/lib\/fleetd-shared/$tmp/shared}"); done
  for w in fleetd-ingest.yaml:StatefulSet:ingest fleetd-gateway.yaml:Deployment:gateway; do
    IFS=: read -r file kind role <<<"$w"
    mapfile -t spec < <("$PY" - "$deploy/k8s/$file" "$kind" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == sys.argv[2]:
        c = d["spec"]["template"]["spec"]["containers"][0]
        for e in c.get("env", []):
            if "value" in e:
                print("env\t%s=%s" % (e["name"], e["value"]))
            else:
                print("env\t%s=%s-0" % (e["name"], d["metadata"]["name"]))
        for a in c.get("args", []):
            print("arg\t%s" % a)
EOF
)
    w_env=() w_args=()
    for line in "${spec[@]}"; do
      v=${line#*$'\t'}
      v=${v//\/var\/lib\/fleetd-shared/$tmp/shared}
      v=${v//\/usr\/share\/fleetd\/web/$tmp/web}
      v=${v//\/etc\/fleetd\/gateway-tls\/tls.crt/$tmp/pki/gateway.crt}
      v=${v//\/etc\/fleetd\/gateway-tls\/tls.key/$tmp/pki/gateway.key}
      case $line in env*) w_env+=("$v") ;; *) w_args+=("$v") ;; esac
    done
    if out=$(env -i PATH="$PATH" STATE_DIRECTORY="$tmp/state" "${shared_env[@]}" "${w_env[@]}" \
      "$fleetd" "${w_args[@]}" --check-config 2>&1) &&
      got=$("$PY" -c 'import json, sys; print(json.loads(sys.stdin.read())["role"])' <<<"$out") &&
      [ "$got" = "$role" ]; then
      ok "fleetd --check-config accepts $file's $kind as its pod runs it (role $role)"
    else
      not_ok "fleetd --check-config on $file's $kind (role $role): $out"
    fi
  done
fi

# ---- systemd ----
unit=$deploy/systemd/fleetd.service
if need systemd-analyze systemd; then
  mkdir -p "$tmp/unit"
  # verify wants the ExecStart binary to exist.
  sed "s|/usr/bin/fleetd|${fleetd:-/bin/true}|" "$unit" >"$tmp/unit/fleetd.service"
  out=$(systemd-analyze verify "$tmp/unit/fleetd.service" 2>&1)
  if [ $? -eq 0 ] && [ -z "$out" ]; then
    ok "systemd-analyze verify fleetd.service"
  else
    not_ok "systemd-analyze verify:"$'\n'"$out"
  fi
  sed 's/^ProtectSystem=strict/ProtectSystem=stricter/' "$tmp/unit/fleetd.service" >"$tmp/unit/bad.service"
  out=$(systemd-analyze verify "$tmp/unit/bad.service" 2>&1)
  [ -n "$out" ] && ok "systemd-analyze verify reports a bad value" ||
    not_ok "systemd-analyze verify is silent on a bad value"
  if out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/unit/fleetd.service" 2>&1); then
    ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' <<<"$out")"
  else
    not_ok "systemd-analyze security: exposure over 2.0:"$'\n'"$(grep -E '✗|Overall' <<<"$out")"
  fi
fi

# ---- logrotate ----
if need logrotate logrotate; then
  if out=$(logrotate -d -s "$tmp/logrotate.state" "$deploy/systemd/fleetd.logrotate" 2>&1) &&
    ! grep -qi 'error' <<<"$out"; then
    ok "logrotate -d fleetd.logrotate"
  else
    not_ok "logrotate:"$'\n'"$out"
  fi
fi

echo "# not run here: docker build, docker-compose up, kubectl apply (no container engine or cluster)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
