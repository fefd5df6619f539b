#!/usr/bin/env bash
# Static check of the systemd unit: install into a scratch root, point the unit's /opt/outpost paths at
# it (so the ExecStart binary check sees the installed pinned Node), then `systemd-analyze verify`.
# Any output (warnings included) fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
node_modules/.bin/node src/cli/main.ts service install --root "$root" --edge-id ci >/dev/null
unit="$root/verify/outpost.service"
mkdir -p "$(dirname "$unit")"
sed "s#/opt/outpost#$root/opt/outpost#g" "$root/usr/lib/systemd/system/outpost.service" >"$unit"
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
# The installed CLI answers with the pinned runtime.
"$root/opt/outpost/node_modules/.bin/node" "$root/opt/outpost/src/cli/main.ts" check-config \
  --config "$root/etc/outpost/outpost.json" >/dev/null
echo "systemd unit OK (systemd-analyze verify, installed into a scratch root)"
