#!/usr/bin/env bash
# Installs the services the tests talk to, pinned, without touching the system: moto (DynamoDB and
# other AWS APIs) and the linters in .venv, and the Firebase Auth emulator (npm firebase-tools) in
# tests/firebase/node_modules. Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python tools and the emulator install side by side (each mostly waits on its registry), so
# the tests wait for the slower of the two, not for both in turn.
python_tools() {
  local stamp=.venv/.requirements
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if ! cmp -s requirements-dev.txt "$stamp" 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    cp requirements-dev.txt "$stamp"
  fi
  .venv/bin/moto_server --help >/dev/null
}
python_tools &
python=$!

# The Firebase Auth emulator, pinned by tests/firebase/package-lock.json.
firebase=tests/firebase
command -v npm >/dev/null || {
  echo "services.sh: the Firebase Auth emulator (tests/firebase) needs Node.js 20 or newer and npm" >&2
  exit 1
}
if ! cmp -s "$firebase/package-lock.json" "$firebase/node_modules/.package-lock.json.installed" 2>/dev/null; then
  # --prefer-offline: a package already in npm's cache is taken from it (the lockfile pins its
  # integrity) instead of being revalidated with the registry one request at a time, which took
  # 4 to 9 of the run's minutes with the cache full.
  (cd "$firebase" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
  cp "$firebase/package-lock.json" "$firebase/node_modules/.package-lock.json.installed"
fi
"$firebase/node_modules/.bin/firebase" --version >/dev/null

wait "$python" || {
  echo "services.sh: installing the Python tools (requirements-dev.txt) into .venv failed" >&2
  exit 1
}
