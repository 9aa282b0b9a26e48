#!/usr/bin/env bash
# Runs every check kmapa has: formatting, lints, and all tests. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test-time reference oracles (Python: h3, shapely)"
python3 -c "import h3, shapely" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
