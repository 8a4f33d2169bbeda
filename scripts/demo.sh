#!/usr/bin/env bash
# The README's "run the main job" command: installs callpay, then takes one payment end to end in a
# throw-away data directory (.demo/): enrol, serve, a real SIP call on loopback to sipp playing the
# consumer's phone (it keys the PIN), the charge, and the bill export.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v sipp >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sip-tester espeak-ng sox </dev/null
  else
    echo "The demo's phone is sipp: sudo apt-get install sip-tester espeak-ng sox (and run the demo as root: sipp plays DTMF through a raw socket)" >&2
    exit 1
  fi
fi
npm ci --no-audit --no-fund --loglevel=error
exec npx tsx scripts/demo.ts
