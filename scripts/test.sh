#!/usr/bin/env bash
# Runs every check and test of the workspace, installing and starting what the tests need first.
# Idempotent: reuses the Python environment when its requirements are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
# Each step's heading carries the seconds since the start, so a slow step shows in CI's log.
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "format"
cargo fmt --all -- --check

# The services install (pip, npm: minutes, downloading or unpacking) and the Docker engine start
# in the background while the build compiles; a lint error still stops the run at once.
services_log="${CARGO_TARGET_DIR:-target}/services.log"
mkdir -p "$(dirname "$services_log")"
step "test services: installing in the background (log: $services_log)"
# Not niced: with npm's cache full its install is unpacking, CPU work that a niced install did
# behind the compiler, after it (services ready at 542 s, the build done at 371 s); sharing the
# CPU, both are done by 464 s.
(scripts/services.sh && scripts/docker.sh) >"$services_log" 2>&1 &
services=$!
trap 'kill "$services" 2>/dev/null || true' EXIT

# Clippy lints the workspace's crates while they compile (clippy-driver as cargo's workspace
# wrapper, as `cargo clippy` runs it, warnings denied), so the dependencies are compiled once,
# not once to check and again to build. Every cargo command below shares these settings.
clippy_driver="$(dirname "$(rustup which cargo 2>/dev/null || command -v cargo)")/clippy-driver"
[ -x "$clippy_driver" ] || clippy_driver=$(command -v clippy-driver) || {
  echo "clippy-driver not found: rustup component add clippy" >&2
  exit 1
}
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# One build serves every step: the test targets with the whole workspace's features, which also
# builds the binaries the end-to-end tests run (target/debug/noteapp, bootstrap). A separate
# `cargo build --bins`, `cargo run -p` or `cargo test -p` would resolve other features and
# compile the dependencies again, so the steps below run what this build made.
step "build and lint: every target of the workspace (clippy -D warnings as it compiles)"
cargo test --locked --workspace --all-targets --no-run
noteapp="${CARGO_TARGET_DIR:-target}/debug/noteapp"
tests_dir="${CARGO_TARGET_DIR:-target}/tests-run"
mkdir -p "$tests_dir"

# rustdoc checks the dependencies again, with the features of a build without dev-dependencies,
# which nothing else here can reuse. In a build directory of its own, so the tests' cargo never
# waits for its lock (in the shared one a fresh clone's tests waited 127 s), and niced: it fills
# the CPU the tests leave while they wait on their services.
RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/rustdoc" \
  nice -n 10 cargo doc --locked --workspace --no-deps >"$tests_dir/docs.log" 2>&1 &
docs=$!

step "test services: Python tools in .venv, the Firebase Auth emulator, Docker engine and registry"
if ! wait "$services"; then
  cat "$services_log" >&2
  echo "scripts/services.sh or scripts/docker.sh failed: the tests need moto, the linters, the" \
    "Firebase Auth emulator, a Docker engine and a registry" >&2
  exit 1
fi
trap - EXIT
registry=$(tail -n 1 "$services_log")
case "$registry" in
  NOTEAPP_TEST_REGISTRY=*) export "${registry?}" ;; # for the image tests
  *) echo "scripts/docker.sh did not name its registry; its log: $services_log" >&2; exit 1 ;;
esac
export NOTEAPP_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# Every test runs: a missing service fails it (skipping is only ever asked for by hand).
unset NOTEAPP_ALLOW_SKIP

step "cfn-lint: the rendered staging and production templates"
# The region and the template come from render --json, the deployer's own reading of the file;
# one cfn-lint run checks both templates against both regions.
templates=() regions=()
for env in staging production; do
  rendered="${CARGO_TARGET_DIR:-target}/cfn-lint-$env"
  "$noteapp" render "$env" --json > "$rendered.json"
  regions+=("$(python3 -c 'import json, sys
rendered = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(rendered["template"])
print(rendered["region"])' "$rendered.json" "$rendered.yaml")")
  templates+=("$rendered.yaml")
done
.venv/bin/cfn-lint --non-zero-exit-code warning --regions "${regions[@]}" -- "${templates[@]}"
echo "cfn-lint: staging and production (${regions[*]}): no errors or warnings" >&2

step "hadolint: Dockerfile.lambda"
.venv/bin/hadolint Dockerfile.lambda
echo "hadolint: Dockerfile.lambda: no findings" >&2

# One test binary per crate: cargo runs them one after another, and each runs six tests at a
# time (most wait on moto, Docker or sockets, not on the CPU).
step "tests: each crate's test binaries, six tests at a time (cargo test)"
# The test kit logs every IAM decision here; the report below reads this run's.
rm -rf "${CARGO_TARGET_DIR:-target}/iam-coverage"
cargo test --locked --workspace --lib --bins --tests --no-fail-fast -- --test-threads=6 || {
  echo "tests failed: see the failures above" >&2
  exit 1
}

step "IAM coverage: what the tests asked of each identity, and the statements none relied on"
"${CARGO_TARGET_DIR:-target}/debug/iam-coverage" --check || {
  echo "a policy statement no test relied on: give it a test or take it out (above)" >&2
  exit 1
}

step "docs (built beside the tests)"
if ! wait "$docs"; then
  cat "$tests_dir/docs.log" >&2
  echo "cargo doc failed (warnings are errors): see above" >&2
  exit 1
fi
tail -n 2 "$tests_dir/docs.log" >&2


echo "all checks passed in $((SECONDS - start)) s" >&2
