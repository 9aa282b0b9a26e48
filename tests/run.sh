#!/usr/bin/env bash
# Runs every check kmapa has: formatting, lints, and all tests. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it started and how long the run has taken so far (the aim: a
# full run under 45 minutes on 2 cores).
step() { echo "== $* [$(date +%T), ${SECONDS} s in]"; }

step "test-time tools (Python: h3 and shapely as reference oracles, schemathesis)"
python3 -c "import h3, shapely, geographiclib, pypdf, openpyxl, schemathesis, owslib, prometheus_client, highspy, numpy" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

step "build tools for HiGHS, the analyst audit's LP solver (CMake, a C++ compiler, libclang)"
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y cmake g++ libclang-dev || { apt-get update && apt-get install -y cmake g++ libclang-dev; }
  elif command -v sudo >/dev/null; then sudo apt-get install -y cmake g++ libclang-dev
  else echo "building HiGHS needs CMake, a C++ compiler and libclang: apt-get install -y cmake g++ libclang-dev" >&2; exit 1; fi
fi

step "reverse proxy and GIS client (Debian's nginx and gdal-bin)"
if ! command -v nginx >/dev/null || ! command -v ogr2ogr >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y nginx gdal-bin || { apt-get update && apt-get install -y nginx gdal-bin; }
  elif command -v sudo >/dev/null; then sudo apt-get install -y nginx gdal-bin
  else echo "the proxy tests need Debian's nginx and gdal-bin: apt-get install -y nginx gdal-bin" >&2; exit 1; fi
fi

step "browser-test tools (Debian's Chromium, playwright-core from package-lock.json)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
  elif command -v sudo >/dev/null; then sudo apt-get install -y chromium
  else echo "the web map tests need Debian's Chromium: apt-get install -y chromium" >&2; exit 1; fi
fi
[ -d node_modules/playwright-core ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo build of every target, linted by clippy as it compiles (warnings fail the run)"
# One build serves the lints and the tests: clippy-driver stands in for rustc for the
# workspace's own crates, exactly as `cargo clippy` runs it, while the dependencies
# (polars, HiGHS) are compiled once by rustc, instead of once in check mode for clippy
# and again for the tests (about 10 of a full run's minutes). A later plain `cargo
# build` recompiles only the workspace's crates.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$clippy_driver" ] || clippy_driver="$(command -v clippy-driver || true)"
[ -n "$clippy_driver" ] || { echo "clippy-driver not found: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --locked --no-run 2>&1 | tee "$log"
# As `cargo clippy -- -D warnings`: any warning of rustc or clippy (cargo replays
# those of crates already built) fails the run.
if grep -qE '^warning' "$log"; then
  echo "the build above has warnings: fix them (the run denies warnings, as cargo clippy -- -D warnings does)" >&2
  exit 1
fi

step "cargo test"
cargo test --workspace --locked 2>&1 | tee "$log"
passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')

step "schemathesis against a live server (tests/api_fuzz.sh)"
cargo build --locked -p kmapa
./tests/api_fuzz.sh

step "behind Debian's nginx: OWSLib, ogr2ogr and a forged header through the proxy (tests/proxy.sh)"
./tests/proxy.sh

step "a new city by the walkthrough in docs/onboarding.md, against a recount (tests/onboarding.sh)"
./tests/onboarding.sh

step "a small city keeps its district totals (tests/small_city.sh)"
./tests/small_city.sh

step "publishing from the admin API: preview, publish, roll back (tests/publish.sh)"
./tests/publish.sh

step "an outside attacker against the public tier (tests/attacker.sh)"
./tests/attacker.sh

step "web map in Chromium (tests/web_map.sh)"
weblog=$(mktemp)
trap 'rm -f "$log" "$weblog"' EXIT
./tests/web_map.sh 2>&1 | tee "$weblog"
web_passed=$(grep -oE '^# pass [0-9]+' "$weblog" | awk '{s += $3} END {print s + 0}')

step "summary"
echo "tests: $((passed + 7 + web_passed)) passed, 0 failed"
