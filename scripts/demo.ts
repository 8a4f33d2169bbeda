// The main job, end to end, in a throw-away directory (.demo/): create the key and database, enrol a
// consumer and a merchant, start `callpay serve` with the embedded SIP engine, let sipp play the
// consumer's phone on loopback (it answers and keys the PIN as RFC 4733 DTMF), take a payment
// through the merchant API while printing each step, then export the bill.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSipp } from '../test/helpers/sipp.js';
import { writeDtmfPcap } from '../test/helpers/pcap.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'callpay.js');
const demo = join(root, '.demo');
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;

rmSync(demo, { recursive: true, force: true });
mkdirSync(demo, { recursive: true });

function callpay(args: string[], input?: string): string {
  console.log(bold(`\n$ callpay ${args.join(' ')}`));
  const out = execFileSync(process.execPath, [bin, ...args], { cwd: demo, input, encoding: 'utf8', timeout: 60_000 });
  process.stdout.write(out);
  return out;
}

callpay(['init']);
callpay(['consumer', 'add', '--login', 'alice', '--phone', '+886912345678', '--national-id', 'A123456789',
  '--address', 'No. 7, Section 1, Zhongshan Rd', '--locale', 'en-US', '--pin-stdin'], '482916\n');
const account = JSON.parse(callpay(['account', 'add', 'alice', '--kind', 'mobile', '--number', '0912345678', '--plan', 'prepaid', '--json'])) as { id: string };
callpay(['account', 'topup', account.id, '--amount', '500']);
const merchant = JSON.parse(callpay(['merchant', 'add', '--name', 'Night Market Stall 12', '--json'])) as { api_key: string };

console.log(bold('\n# the consumer\'s phone: sipp on loopback, answers and keys PIN 482916 then #'));
const pcap = join(demo, 'pin.pcap');
writeDtmfPcap(pcap, { digits: '482916#', leadMs: 9000, silencePayloadType: 0, gapMs: 200 });
const phone = await startSipp({ scenario: 'answer-dtmf', pcap, timeoutMs: 60_000 });
console.log(`  ${phone.command.split(' -trace_err')[0]} …   (pid ${phone.pid})`);

// The operator's config: where the phone is (a trunk, PBX or SBC in real life).
writeFileSync(join(demo, 'callpay.json'), JSON.stringify({
  http: { port: 0 },
  telephony: { sip: { bindPort: 0, requestUri: `sip:{number}@127.0.0.1:${phone.port}` } },
}, null, 2));
console.log(bold('\n$ cat callpay.json'));
console.log(JSON.stringify({ telephony: { sip: { requestUri: `sip:{number}@127.0.0.1:${phone.port}` } } }));

console.log(bold('\n$ callpay serve   (in the background)'));
const serve = spawn(process.execPath, [bin, 'serve', '--log-level', 'info'], { cwd: demo, stdio: ['ignore', 'inherit', 'pipe'] });
// The daemon's own log (JSON lines) shows the call as it happens: one short line each.
let partial = '';
function printLogLines(chunk: string): void {
  const lines = (partial + chunk).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    if (!line.startsWith('{')) {
      if (line.trim()) console.log(`  ${line}`);
      continue;
    }
    const entry = JSON.parse(line) as { msg?: string; outcome?: string; result?: string; attempt?: number };
    const detail = [entry.outcome, entry.result].filter(Boolean).join(', ');
    console.log(`  [callpay] ${entry.msg ?? ''}${detail ? `: ${detail}` : ''}`);
  }
}
const stopAll = async () => {
  if (serve.exitCode === null) serve.kill('SIGTERM');
  await phone.stop();
};
try {
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${err}`)), 20_000);
    serve.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      printLogLines(d.toString());
      const m = /serving on (\S+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const api = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${merchant.api_key}` };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'idempotency-key': `demo-${Date.now()}` });
    const res = await fetch(`${url}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as Record<string, any>;
  };

  console.log(bold('\n$ POST /v1/payments   (the merchant asks for NT$150.00 from alice)'));
  const payment = await api('POST', '/v1/payments', { amount: 15000, currency: 'TWD', reference: 'order-1001',
    description: 'Oyster omelette', return_url: 'https://shop.example/done', login_account: 'alice' });
  console.log(`  ${payment.id}: ${payment.status}, live: ${payment.live}; callpay is calling alice's phone`);
  let seen = 0;
  let status = payment.status as string;
  for (let i = 0; i < 600 && ['requires_consumer', 'requires_password', 'calling'].includes(status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    const transitions = (await api('GET', `/v1/payments/${payment.id}/transitions`)).data as Array<{ at: string; from: string | null; to: string; reason: string }>;
    for (const t of transitions.slice(seen)) console.log(`  ${t.at}  ${t.from ?? '-'} → ${t.to}  (${t.reason})`);
    seen = transitions.length;
    status = (await api('GET', `/v1/payments/${payment.id}`)).status as string;
  }
  const transitions = (await api('GET', `/v1/payments/${payment.id}/transitions`)).data as Array<{ at: string; from: string | null; to: string; reason: string }>;
  for (const t of transitions.slice(seen)) console.log(`  ${t.at}  ${t.from ?? '-'} → ${t.to}  (${t.reason})`);
  console.log(bold(`\n  payment ${payment.id}: ${status}`));
  const outcome = await phone.outcome();
  console.log(`  the phone (sipp) ${outcome.code === 0 ? 'completed its call: INVITE, 200 OK, PIN keyed, BYE' : `exited with ${outcome.code}`}`);
} finally {
  await stopAll();
  await new Promise((r) => (serve.exitCode === null ? serve.once('exit', r) : r(null)));
}

const cycle = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Taipei', year: 'numeric', month: '2-digit' }).format(new Date()).slice(0, 7);
callpay(['bill', 'export', '--cycle', cycle]);
callpay(['account', 'list', 'alice']);
console.log(`\nData directory: ${demo}`);
