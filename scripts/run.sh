#!/usr/bin/env bash
# Runs Vestibule on a demo vault: builds the `vestibule` command line (release), creates
# demo/demo.vault (encrypted, 50,000 seeded customers, one staff account per role) on the
# first run, then opens an interactive customer lookup signed in as the demo support agent.
# (The desktop console replaces this lookup when it lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libssl-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q libssl-dev pkg-config; else sudo apt-get update -q && sudo apt-get install -y -q libssl-dev pkg-config; fi
fi
cargo build --release --locked -p vestibule-cli
bin=target/release/vestibule
"$bin" demo --db demo/demo.vault
echo
export VESTIBULE_STAFF=support@demo.vestibule.example VESTIBULE_PASSWORD="demo support password"
exec "$bin" shell --db demo/demo.vault
