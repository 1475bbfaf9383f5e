#!/usr/bin/env bash
# Runs every test of Vestibule on a fresh Debian/Ubuntu machine: installs what is missing
# (C toolchain bits for SQLCipher, PostgreSQL, cargo-nextest), starts a throw-away
# PostgreSQL server on a free loopback port, then runs the whole suite with cargo-nextest
# against both the encrypted SQLite vault and PostgreSQL, plus fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- a private PostgreSQL server for the tests ---------------------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir="$root/target/test-postgres"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() { run_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true; }
stop_pg
rm -rf "$pgdir"
mkdir -p "$pgdir"
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
run_pg "$pgbin/initdb" -D "$pgdir/data" -A trust -U vestibule --encoding=UTF8 >/dev/null
run_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c fsync=off -c max_connections=300" start >/dev/null
trap stop_pg EXIT
echo "==> PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
export VESTIBULE_TEST_POSTGRES="postgres://vestibule@127.0.0.1:$port"
export VESTIBULE_REQUIRE_POSTGRES=1

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo nextest (SQLite vault + PostgreSQL)"
cargo nextest run --workspace --locked --no-fail-fast
