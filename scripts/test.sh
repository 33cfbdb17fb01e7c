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

# The services install (pip, npm: minutes, mostly waiting on downloads) and the Docker engine start
# in the background while clippy and the build compile; a lint error still stops the run at once.
services_log="${CARGO_TARGET_DIR:-target}/services.log"
mkdir -p "$(dirname "$services_log")"
step "test services: installing in the background (log: $services_log)"
(scripts/services.sh && scripts/docker.sh) >"$services_log" 2>&1 &
services=$!
trap 'kill "$services" 2>/dev/null || true' EXIT

step "lint"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "build binaries used by end-to-end tests"
cargo build --locked --workspace --bins

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
# Tests fail instead of skipping when a service they need is missing.
export NOTEAPP_REQUIRE_SERVICES=1

step "cfn-lint: the rendered staging and production templates"
# The region and the template come from render --json, the deployer's own reading of the file;
# one cfn-lint run checks both templates against both regions.
templates=() regions=()
for env in staging production; do
  rendered="${CARGO_TARGET_DIR:-target}/cfn-lint-$env"
  cargo run --locked -q -p noteapp -- render "$env" --json > "$rendered.json"
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

step "tests: build"
cargo test --locked --workspace --no-run

# Two lanes: most tests wait on moto, Docker or sockets, so two run at a time. The deployer's
# tests and the longest end-to-end file (budgets) run beside the runtime's and every other
# end-to-end file (found in tests/tests, so a new one joins by itself). Each lane's output is
# shown whole.
step "tests: run in two lanes"
lanes="${CARGO_TARGET_DIR:-target}/test-lanes"
mkdir -p "$lanes"
paired=budgets
others=()
for file in tests/tests/*.rs; do
  name=$(basename "$file" .rs)
  [ "$name" = "$paired" ] || others+=(--test "$name")
done
(
  rc=0
  cargo test --locked -p noteapp --no-fail-fast || rc=1
  cargo test --locked -p noteapp-tests --test "$paired" --no-fail-fast || rc=1
  exit "$rc"
) >"$lanes/deployer.log" 2>&1 &
deployer=$!
(
  rc=0
  cargo test --locked -p noteapp-runtime -p noteapp-test-support --no-fail-fast || rc=1
  cargo test --locked -p noteapp-tests --lib "${others[@]}" --no-fail-fast || rc=1
  exit "$rc"
) >"$lanes/end-to-end.log" 2>&1 &
end_to_end=$!
failed=0
wait "$deployer" || failed=1
wait "$end_to_end" || failed=1
for lane in deployer end-to-end; do
  printf '\n--- tests: %s ---\n' "$lane" >&2
  cat "$lanes/$lane.log" >&2
done
grep -h '^test result:' "$lanes"/*.log | awk '{p += $4; f += $6} END {
  printf "tests: %d passed, %d failed\n", p, f > "/dev/stderr" }'
[ "$failed" = 0 ] || { echo "tests failed: see the lane output above" >&2; exit 1; }

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

echo "all checks passed in $((SECONDS - start)) s" >&2
