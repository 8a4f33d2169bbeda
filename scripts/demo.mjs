// The main job, shown end to end in a throw-away directory: create the key and database, enrol a
// consumer and a merchant, start `callpay serve`, take a payment through the merchant API, export
// the bill, stop the daemon. Every step prints the command an operator would type.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'callpay.js');
const demo = join(root, '.demo');
// Until the embedded SIP engine lands, the demo opts in to the simulated engine: no call is placed
// and every payment says "live": false.
const env = { ...process.env, CALLPAY_TELEPHONY_ENGINE: 'simulated', CALLPAY_HTTP_PORT: '0' };

rmSync(demo, { recursive: true, force: true });
mkdirSync(demo, { recursive: true });

const bold = (s) => `\x1b[1m${s}\x1b[0m`;
function callpay(args, input) {
  console.log(bold(`\n$ callpay ${args.join(' ')}`));
  const out = execFileSync(process.execPath, [bin, ...args], { cwd: demo, env, input, encoding: 'utf8', timeout: 30_000 });
  process.stdout.write(out);
  return out;
}

callpay(['init']);
callpay(['consumer', 'add', '--login', 'alice', '--phone', '+886912345678', '--national-id', 'A123456789',
  '--address', 'No. 7, Section 1, Zhongshan Rd', '--locale', 'en-US', '--pin-stdin'], '482916\n');
const account = JSON.parse(callpay(['account', 'add', 'alice', '--kind', 'mobile', '--number', '0912345678', '--plan', 'prepaid', '--json']));
callpay(['account', 'topup', account.id, '--amount', '500']);
const merchant = JSON.parse(callpay(['merchant', 'add', '--name', 'Night Market Stall 12', '--json']));

console.log(bold('\n$ callpay serve   (in the background)'));
const serve = spawn(process.execPath, [bin, 'serve', '--log-level', 'warn'], { cwd: demo, env, stdio: ['ignore', 'inherit', 'pipe'] });
const stop = () => serve.exitCode === null && serve.kill('SIGTERM');
process.on('exit', stop);
const url = await new Promise((resolve, reject) => {
  let err = '';
  const timer = setTimeout(() => reject(new Error(`serve did not start:\n${err}`)), 15_000);
  serve.stderr.on('data', (d) => {
    err += d;
    process.stderr.write(d);
    const m = /serving on (\S+)/.exec(err);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  });
});

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${merchant.api_key}` };
  if (body) Object.assign(headers, { 'content-type': 'application/json', 'idempotency-key': `demo-${Date.now()}` });
  const res = await fetch(`${url}${path}`, { method, headers, body: body && JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return res.json();
}

console.log(bold('\n$ POST /v1/payments   (merchant: NT$150.00 for order-1001, consumer alice)'));
let payment = await api('POST', '/v1/payments', { amount: 15000, currency: 'TWD', reference: 'order-1001',
  description: 'Oyster omelette', return_url: 'https://shop.example/done', login_account: 'alice' });
console.log(`  ${payment.id}: ${payment.status} (steps: ${JSON.stringify(payment.authentication)}, live: ${payment.live})`);
for (let i = 0; i < 50 && ['requires_consumer', 'requires_password', 'calling'].includes(payment.status); i++) {
  await new Promise((r) => setTimeout(r, 100));
  payment = await api('GET', `/v1/payments/${payment.id}`);
}
console.log(`  ${payment.id}: ${payment.status}`);
const transitions = await api('GET', `/v1/payments/${payment.id}/transitions`);
for (const t of transitions.data) console.log(`    ${t.at}  ${t.from ?? '-'} → ${t.to}  (${t.reason})`);

stop();
await new Promise((r) => serve.once('exit', r));
const cycle = new Date().toISOString().slice(0, 7);
callpay(['bill', 'export', '--cycle', cycle]);
callpay(['account', 'list', 'alice']);
console.log(`\nData directory: ${demo}`);
