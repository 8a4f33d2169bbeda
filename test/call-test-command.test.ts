import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir, type CliResult } from './helpers/cli.js';
import { ANSWER, FakePhone, phoneRequest } from './helpers/fake-phone.js';

/**
 * `callpay call test` through the embedded engine against a fake phone on loopback: its exit code
 * says whether the path to a phone works (0 only for answered with digits keyed), and --timeout
 * bounds the whole test, an unreachable target included.
 */
describe('callpay call test: exit codes and --timeout', () => {
  let dir: ReturnType<typeof tempDir>;
  let phone: FakePhone;
  let env: Record<string, string>;

  beforeEach(async () => {
    dir = tempDir();
    phone = await FakePhone.start();
    env = { CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${phone.port}`, CALLPAY_TELEPHONY_SIP_BIND_PORT: '0' };
    expect((await runCli(['init'], { cwd: dir.path, env })).code).toBe(0);
  });
  afterEach(async () => {
    phone.answerByes = true;
    await phone.close();
    dir.remove();
  });

  const callTest = (extra: string[] = []): Promise<CliResult> =>
    runCli(['call', 'test', '--number', '+886912345678', '--json', ...extra], { cwd: dir.path, env, logLevel: 'silent' });

  const oneLine = (r: CliResult) => expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);

  it.each([
    [486, 'Busy Here', 'busy'],
    [404, 'Not Found', 'failed'],
    [603, 'Decline', 'rejected'],
  ])('exits 4 when the call is refused with %i', async (status, reason, outcome) => {
    const run = callTest();
    const invite = await phone.request('INVITE', 10_000);
    phone.respond(invite, status, reason, { toTag: 'ph1' });
    const r = await run;
    expect(r.code, r.stderr).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome, sip_status: status });
    oneLine(r);
    expect(r.stderr).toContain(outcome);
  });

  it('exits 6 within --timeout when nothing answers at all (not after timer B, 32 s)', async () => {
    const started = Date.now();
    const r = await callTest(['--timeout', '2']);
    const took = Date.now() - started;
    expect(r.code, r.stderr).toBe(6);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'timeout', stage: 'dialing', timeout_s: 2 });
    oneLine(r);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(8_000);
    expect(phone.requests('INVITE').length, 'the INVITE was sent (and retransmitted)').toBeGreaterThan(0);
  });

  it('exits 6 when the phone rings past --timeout, cancelling the call even if the CANCEL is never answered', async () => {
    const started = Date.now();
    const run = callTest(['--timeout', '2']);
    const invite = await phone.request('INVITE', 10_000);
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    await phone.request('CANCEL', 5_000);
    const r = await run;
    expect(r.code, r.stderr).toBe(6);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'timeout', stage: 'dialing' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('exits 5 when the call is answered but the phone hangs up before a digit', async () => {
    const run = callTest(['--timeout', '20']);
    const invite = await phone.request('INVITE', 10_000);
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [`Contact: <sip:phone@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'] });
    await phone.request('ACK', 5_000);
    phone.send(phoneRequest(phone, invite, 'ph1', 'BYE', 1), invite.source);
    const r = await run;
    expect(r.code, r.stderr).toBe(5);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'hung_up', digits_received: 0 });
    oneLine(r);
  });

  it('refuses a bad --timeout as a usage error, and documents the exit codes in --help', async () => {
    for (const bad of ['0', '601', '1.5', 'ten', '-3']) {
      expect((await callTest(['--timeout', bad])).code, bad).toBe(2);
    }
    const help = await runCli(['call', 'test', '--help'], { cwd: dir.path, env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--timeout <seconds>');
    for (const code of ['0', '1', '2', '3', '4', '5', '6']) expect(help.stdout).toMatch(new RegExp(`^\\s+${code}\\s+\\S`, 'm'));
  });
});
