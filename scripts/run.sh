#!/usr/bin/env bash
# Runs Vestibule's desktop console on a demo vault. Installs what building the console needs
# (WebKitGTK and friends, the UI's npm packages) if missing, builds the console in release
# with the UI embedded, and opens it. On first launch choose "Open the demo vault": the
# engine's generator creates demo/demo.vault (encrypted, 50,000 customers with sign-in
# history including attack patterns, one staff account per role — their passwords are on
# that screen). Later launches go straight to staff sign-in.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
for p in build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libsoup-3.0-dev \
         librsvg2-dev libayatana-appindicator3-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi
[ -d ui/node_modules ] || (cd ui && npm ci --no-audit --no-fund)

echo "==> building the console (release; the first build takes a few minutes)"
ui/node_modules/.bin/tauri build --no-bundle -- --locked --profile dist

export VESTIBULE_DEMO_VAULT="$root/demo/demo.vault"
export VESTIBULE_DEMO_CUSTOMERS="${VESTIBULE_DEMO_CUSTOMERS:-50000}"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display: the console needs a desktop session (or run this under xvfb-run)." >&2
  exit 1
fi
echo "==> opening the console (demo vault: demo/demo.vault)"
exec target/dist/vestibule-console
