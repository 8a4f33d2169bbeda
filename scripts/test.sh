#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine, then runs them all.
# Ends with one line "N passed, N failed". Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (real peers, not mocks). Installed when missing and we are root.
DEBIAN_PACKAGES=()
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "The tests need these Debian packages: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

npm ci --no-audit --no-fund
npx tsc --noEmit

mkdir -p test-results
set +e
npx vitest run --reporter=default --reporter=json --outputFile=test-results/vitest.json </dev/null
status=$?
set -e
node scripts/test-summary.mjs test-results/vitest.json || status=1
exit "$status"
