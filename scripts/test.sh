#!/usr/bin/env bash
# Runs every test of Vestibule on a fresh Debian/Ubuntu machine: installs what is missing
# (C toolchain bits for SQLCipher, PostgreSQL, WebKitGTK and the WebDriver chain for the
# console, cargo-nextest, tauri-driver, schemathesis, the UI's npm packages), starts a throw-away
# PostgreSQL server on a free loopback port, then runs: the UI's type check and vitest
# suite; cargo fmt and clippy; the whole Rust suite with cargo-nextest against both the
# encrypted SQLite vault and PostgreSQL (schemathesis against the server's /openapi.json and
# the hosted pages walked in headless Chromium among them); and the console's real-window tests (the app built
# with the UI embedded, under Xvfb, driven through tauri-driver + WebKitWebDriver).
# Screenshots of every screen the window tests visit land in target/e2e-screenshots/, of every
# hosted page (both themes) in target/page-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# A CI build is thrown away: no incremental caches and no debug info (a panic still names
# its file and line; a fresh debug build of the workspace is then ~3.5 GB, not ~8). CI once
# failed with the disk full mid-build, so the free space is printed before and after.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
  export CARGO_PROFILE_DEV_DEBUG=0
fi
disk() { echo "==> disk: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free here; target/ $(du -sh target 2>/dev/null | cut -f1)"; }
disk
trap disk EXIT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
# The desktop console (Tauri v2 on WebKitGTK) and its real-window tests.
# Debian's Chromium walks the hosted pages (tests/browser, playwright-core + axe-core).
# Apache's mod_auth_openidc is a relying party nobody here wrote (crates/server/tests/server/apache.rs).
for p in build-essential libwebkit2gtk-4.1-dev libsoup-3.0-dev librsvg2-dev \
         libayatana-appindicator3-dev webkit2gtk-driver xvfb xauth chromium \
         apache2 libapache2-mod-auth-openidc; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "==> installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0
fi
# schemathesis (PyPI, pinned) fuzzes the server against its own /openapi.json.
st_venv="$root/target/tools/schemathesis"
st_version=4.32.5
if ! "$st_venv/bin/st" --version 2>/dev/null | grep -q "$st_version"; then
  echo "==> installing schemathesis $st_version"
  python3 -m venv --help >/dev/null 2>&1 \
    || { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; }
  rm -rf "$st_venv"
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$st_version"
fi
export VESTIBULE_SCHEMATHESIS="$st_venv/bin/st"
export VESTIBULE_REQUIRE_SCHEMATHESIS=1
if [ ! -d ui/node_modules ] || [ "${CI:-}" = true ]; then
  echo "==> npm ci (ui/)"
  (cd ui && npm ci --no-audit --no-fund)
fi
if [ ! -d tests/browser/node_modules ] || [ "${CI:-}" = true ]; then
  echo "==> npm ci (tests/browser/: playwright-core, axe-core)"
  (cd tests/browser && npm ci --no-audit --no-fund)
fi
export VESTIBULE_REQUIRE_BROWSER=1
export VESTIBULE_REQUIRE_APACHE=1

# --- a private PostgreSQL server for the tests ---------------------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# The throw-away cluster lives in a fresh directory under /tmp, not in the checkout: as root,
# initdb runs as the postgres user, who cannot enter a checkout under /root (mode 0700).
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/vestibule-test-postgres.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
stop_pg() {
  run_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap 'stop_pg; disk' EXIT
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
run_pg "$pgbin/initdb" -D "$pgdir/data" -A trust -U vestibule --encoding=UTF8 >/dev/null
run_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c fsync=off -c max_connections=300" start >/dev/null
echo "==> PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
export VESTIBULE_TEST_POSTGRES="postgres://vestibule@127.0.0.1:$port"
export VESTIBULE_REQUIRE_POSTGRES=1

echo "==> UI: svelte-check (TypeScript strict) and vitest"
(cd ui && npm run --silent check && npm test --silent)
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo nextest (SQLite vault + PostgreSQL; includes the IPC bindings drift check)"
cargo nextest run --workspace --locked --no-fail-fast
echo "==> engine doc tests (compile-fail proofs: a Staff cannot be built outside the engine)"
cargo test -p vestibule-engine --doc --locked
echo "==> console: build with the UI embedded (target/e2e/vestibule-console)"
ui/node_modules/.bin/tauri build --no-bundle -- --locked --profile e2e
echo "==> console: real-window tests under Xvfb (tauri-driver + WebKitWebDriver)"
# The #[ignore]d tests are the real-window ones (tests/console.rs) and the engine's crash-test
# child process (which does nothing without its parent's environment); running them through
# the workspace reuses the test build above instead of compiling a second feature set.
rm -rf target/e2e-screenshots
PATH="$HOME/.cargo/bin:$PATH" xvfb-run -a -s "-screen 0 1280x800x24" \
  cargo nextest run --workspace --locked --run-ignored only -j 1 --no-fail-fast
echo "==> screenshots: target/e2e-screenshots/ (console), target/page-screenshots/ (hosted pages)"
