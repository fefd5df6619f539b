#!/usr/bin/env bash
# The one test command (`npm run test:all`, after `npm ci`; .ci/run calls it too): installs what the
# tests need and is missing (Debian packages, Kafka's jars), then lint, types, the systemd unit and
# the whole suite. Installing packages needs root (or sudo); with everything present it installs
# nothing and needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

echo "== system packages (only what is missing)"
need=()
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v socat >/dev/null || need+=(socat)
command -v openssl >/dev/null || need+=(openssl)                  # TLS certificates made by the ingest tests
command -v python3 >/dev/null || need+=(python3)                  # receives sd_notify datagrams in test/service
command -v script >/dev/null || need+=(util-linux)                # a terminal for the log-format test
[ -x /usr/bin/chromium ] || need+=(chromium)                      # status page test (playwright-core drives it)
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)   # Kafka brokers for tests (test/kafka)
command -v mvn >/dev/null || need+=(maven)                        # fetches Kafka's jars (test/kafka/fetch.sh)
command -v promtool >/dev/null || need+=(prometheus)              # promtool checks and tests the alert rules
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "installing: ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== kafka jars (Maven Central → ~/.cache/outpost)"
test/kafka/fetch.sh

echo "== lint and types"
npm run lint
npm run typecheck

echo "== systemd unit"
bash systemd/verify.sh

echo "== tests"
npm test
