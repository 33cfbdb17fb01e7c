#!/usr/bin/env bash
# Runs every check and test of the workspace, installing and starting what the tests need first.
# Idempotent: reuses the Python environment when its requirements are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
# Each step's heading carries the seconds since the start, so a slow step shows in CI's log.
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

step "test services: Python tools in .venv"
scripts/services.sh

export NOTEAPP_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# Tests fail instead of skipping when a service they need is missing.
export NOTEAPP_REQUIRE_SERVICES=1

step "test services: Docker engine and registry on loopback (scripts/docker.sh)"
registry=$(scripts/docker.sh) || {
  echo "scripts/docker.sh failed: the image tests need a Docker engine and a registry" >&2
  exit 1
}
export "${registry?}" # NOTEAPP_TEST_REGISTRY=127.0.0.1:PORT, for the image tests
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "build binaries used by end-to-end tests"
cargo build --locked --workspace --bins

step "cfn-lint: the rendered staging and production templates"
for env in staging production; do
  region=$(sed -n 's/^region: *//p' "environments/$env.yaml")
  rendered="${CARGO_TARGET_DIR:-target}/cfn-lint-$env.yaml"
  cargo run --locked -q -p noteapp -- render "$env" --template-only > "$rendered"
  .venv/bin/cfn-lint --non-zero-exit-code warning --regions "$region" -- "$rendered"
  echo "cfn-lint: $env ($region): no errors or warnings" >&2
done

step "hadolint: Dockerfile.lambda"
.venv/bin/hadolint Dockerfile.lambda
echo "hadolint: Dockerfile.lambda: no findings" >&2

step "tests"
cargo test --locked --workspace --no-fail-fast

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

echo "all checks passed in $((SECONDS - start)) s" >&2
