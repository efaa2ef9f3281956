#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, on a fresh Debian machine:
# python3 (the seed's reference diff runs as the oracle), Java 17 (the Pub/Sub emulator runs on
# it), Debian's chromium (the dashboard's browser tests drive it with playwright-core) and the
# official Pub/Sub emulator from the Google Cloud CLI. Idempotent; prints what it did.
set -euo pipefail

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-test-deps: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) or run as root" >&2
    exit 1
  fi
  echo "ensure-test-deps: installing ${need_apt[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

emulator=""
if [ -n "${PUBSUB_EMULATOR_BIN:-}" ] && [ -x "$PUBSUB_EMULATOR_BIN" ]; then
  emulator="$PUBSUB_EMULATOR_BIN"
elif command -v gcloud >/dev/null 2>&1; then
  root=$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null || true)
  if [ -n "$root" ] && [ ! -x "$root/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ]; then
    echo "ensure-test-deps: installing the Pub/Sub emulator component"
    gcloud components install pubsub-emulator --quiet >/dev/null 2>&1 \
      || apt-get install -y -qq google-cloud-cli-pubsub-emulator >/dev/null 2>&1 || true
  fi
  [ -n "$root" ] && [ -x "$root/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ] \
    && emulator="$root/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
fi
if [ -z "$emulator" ]; then
  echo "ensure-test-deps: the official Pub/Sub emulator was not found. Install the Google Cloud CLI" >&2
  echo "  with its pubsub-emulator component (gcloud components install pubsub-emulator), or set" >&2
  echo "  PUBSUB_EMULATOR_BIN to the cloud-pubsub-emulator script. The Pub/Sub tests need it." >&2
  exit 1
fi
echo "ensure-test-deps: python3 $(python3 -c 'import sys; print(sys.version.split()[0])'), $(java -version 2>&1 | head -1), $(/usr/bin/chromium --version 2>/dev/null | head -1), emulator at $emulator"
