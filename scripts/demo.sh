#!/usr/bin/env bash
# The README's "run the main job" command: installs callpay, then takes one payment end to end in a
# throw-away data directory (.demo/): enrol, serve, pay through the merchant API, export the bill.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
exec node scripts/demo.mjs
