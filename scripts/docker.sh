#!/usr/bin/env bash
# Starts what the image tests and benchmarks need: a Docker engine and a registry on loopback.
#
# Idempotent: installs Debian's docker.io and docker-registry only when missing, starts
# `dockerd` only when `docker info` does not answer, and reuses a registry it started before.
# The registry requires basic auth with the credentials moto's ECR hands out
# (get_authorization_token → base64 "AWS:123456789012-auth-token"), so a push authenticates
# exactly as a push to ECR does. Prints `NOTEAPP_TEST_REGISTRY=127.0.0.1:PORT` on stdout and writes
# it to target/docker/registry.env; logs go to target/docker/*.log.
#
# Needs root (apt-get, dockerd) and .venv with bcrypt (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

state="$PWD/target/docker"
mkdir -p "$state"
user=AWS
password=123456789012-auth-token
say() { printf 'docker.sh: %s\n' "$*" >&2; }

# --- packages ---------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null || ! command -v docker-registry >/dev/null; then
  say "installing docker.io and docker-registry (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$state/apt.log" 2>&1
  apt-get install -y -qq --no-install-recommends docker.io docker-registry >>"$state/apt.log" 2>&1 ||
    { say "apt-get install failed; see $state/apt.log"; tail -20 "$state/apt.log" >&2; exit 1; }
fi

# --- engine -----------------------------------------------------------------------------------
engine_up() { docker info >/dev/null 2>&1; }
if ! engine_up; then
  say "starting dockerd (vfs storage, no bridge, no iptables); log: $state/dockerd.log"
  setsid nohup dockerd --storage-driver=vfs --iptables=false --bridge=none \
    >"$state/dockerd.log" 2>&1 </dev/null &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 120); do
    engine_up && break
    sleep 0.5
  done
  engine_up || { say "dockerd did not answer within 60 s"; tail -20 "$state/dockerd.log" >&2; exit 1; }
fi
say "engine: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# --- registry ---------------------------------------------------------------------------------
# Answers 200 to our credentials on /v2/ only if it is a registry with our htpasswd.
registry_ok() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u "$user:$password" "http://127.0.0.1:$1/v2/")" = 200 ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/")" = 401 ]
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=""
if [ -f "$state/registry.port" ] && registry_ok "$(cat "$state/registry.port")"; then
  port=$(cat "$state/registry.port")
else
  for candidate in 5000 $(seq 5001 5050); do
    if port_free "$candidate"; then port=$candidate; break; fi
  done
  [ -n "$port" ] || { say "no free port in 5000..5050 for the registry"; exit 1; }
  [ -x .venv/bin/python ] || { say "missing .venv: run scripts/services.sh first"; exit 1; }
  .venv/bin/python - "$state/htpasswd" "$user" "$password" <<'EOF'
import sys, bcrypt
path, user, password = sys.argv[1:]
with open(path, "w") as f:
    f.write(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
EOF
  cat >"$state/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
auth:
  htpasswd:
    realm: noteapp-test
    path: $state/htpasswd
EOF
  say "starting docker-registry on 127.0.0.1:$port (basic auth $user); log: $state/registry.log"
  setsid nohup docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 </dev/null &
  echo $! >"$state/registry.pid"
  for _ in $(seq 1 60); do
    registry_ok "$port" && break
    sleep 0.25
  done
  registry_ok "$port" || { say "the registry did not answer"; tail -20 "$state/registry.log" >&2; exit 1; }
  echo "$port" >"$state/registry.port"
fi
echo "NOTEAPP_TEST_REGISTRY=127.0.0.1:$port" | tee "$state/registry.env"
