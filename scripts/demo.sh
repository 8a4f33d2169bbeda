#!/usr/bin/env bash
# The README's "run the main job" command: installs callpay, then walks through what an operator
# does first, in a throw-away data directory (.demo/): create the key and database, enrol a consumer
# with a billable account, enrol a merchant. Safe to run again (it starts .demo/ afresh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
npm ci --no-audit --no-fund --loglevel=error

demo="$root/.demo"
rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
callpay() { node "$root/bin/callpay.js" "$@"; }
step() { printf '\n\033[1m$ callpay %s\033[0m\n' "$*"; }

step init
callpay init
step "consumer add --login alice --phone +886912345678 ... --pin-stdin --password-stdin"
printf '482916\nnight market 42\n' | callpay consumer add --login alice --phone +886912345678 \
  --national-id A123456789 --address "No. 7, Section 1, Zhongshan Rd" --locale en-US --pin-stdin --password-stdin
step "account add alice --kind mobile --number 0912345678 --plan prepaid"
account=$(callpay account add alice --kind mobile --number 0912345678 --plan prepaid --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
echo "added $account"
step "account topup $account --amount 500"
callpay account topup "$account" --amount 500
step "merchant add --name 'Night Market Stall 12'"
callpay merchant add --name "Night Market Stall 12" --webhook-url http://127.0.0.1:9999/hooks
step "consumer show alice"
callpay consumer show alice
printf '\nData directory: %s (key file, database). Payments over a real SIP call come with issues 3-5.\n' "$demo"
