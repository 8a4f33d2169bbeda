import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFreeswitchEngine, type FreeswitchEngine } from '../src/telephony/freeswitch/engine.js';
import { ANNOUNCEMENT, log } from './helpers/engine-contract.js';
import { startEslPeer, type EslPeer, type NumberPlan } from './helpers/esl-peer/peer.js';
import { CLIP_MS, NUMBER, engineOptions } from './helpers/esl-peer/harness.js';
import { tempDir } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';


describe('FreeSWITCH engine: what only an event socket can do', () => {
  let dir: ReturnType<typeof tempDir>;
  let peer: EslPeer | undefined;
  let engine: FreeswitchEngine | undefined;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    await engine?.close();
    await peer?.stop();
    engine = undefined;
    peer = undefined;
    dir.remove();
  });

  const answerPlan = (over: NumberPlan = {}): NumberPlan => ({ outcome: 'answer', clipMs: CLIP_MS, ...over });

  it('originates with our uuid, the ring timeout, caller ID, early media and a park timeout, and plays one file_string', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan() } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port, { ringTimeoutMs: 8000, parkTimeoutSeconds: 90 }));
    const r = await engine.dial({ number: NUMBER, log });
    expect(r.kind).toBe('answered');
    if (r.kind !== 'answered') return;
    const originate = peer.commands().find((c) => c.startsWith('bgapi originate'))!;
    expect(originate).toBe(
      `bgapi originate {origination_uuid=${r.call.id},ignore_early_media=true,originate_timeout=8,origination_caller_id_number=callpay,park_timeout=90,hangup_after_bridge=true}sofia/gateway/carrier/+886900000001 &park()`,
    );
    expect(await r.call.play(ANNOUNCEMENT, { bargeIn: false })).toEqual({ kind: 'completed' });
    const playback = peer.lines().find((l) => l.startsWith('PLAYBACK '))!;
    expect(JSON.parse(playback.slice(9)).files).toEqual(ANNOUNCEMENT);
    await r.call.hangup();
    expect(peer.commands()).toContain(`api uuid_kill ${r.call.id} NORMAL_CLEARING`);
  });

  it('a digit during the announcement sends uuid_break for that channel', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan({ keys: [{ after: 'playback_start1', ms: 50, digits: '9#' }] }) } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(await r.call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'interrupted', by: 'digit' });
    expect(peer.commands()).toContain(`api uuid_break ${r.call.id} all`);
    await r.call.hangup();
  });

  it('refuses a hostile number: no originate reaches FreeSWITCH', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: {} } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    for (const number of ['+886900000001,sofia/gateway/evil/+1900', '+1{absolute_codec_string=PCMU}', '+1|user/1000', '+1 &bridge(x)', '+1[x=y]', '+1^^:a', '886900000001']) {
      const r = await engine.dial({ number, log });
      expect(r.kind).toBe('failed');
      if (r.kind !== 'answered') expect(r.reason).toMatch(/refused/);
    }
    expect(peer.commands().some((c) => c.includes('originate'))).toBe(false);
  });

  it('other causes: CALL_REJECTED → rejected, NORMAL_TEMPORARY_FAILURE → failed with the cause kept', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000002': { outcome: 'cause', cause: 'CALL_REJECTED' }, '886900000003': { outcome: 'cause', cause: 'NORMAL_TEMPORARY_FAILURE' } } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    const a = await engine.dial({ number: '+886900000002', log });
    expect(a.kind).toBe('rejected');
    const b = await engine.dial({ number: '+886900000003', log });
    expect(b.kind).toBe('failed');
    if (b.kind !== 'answered') expect(b.reason).toBe('NORMAL_TEMPORARY_FAILURE');
  });

  it('the socket drops mid-call: the call ends as interrupted (failed), the engine reconnects and kills the orphaned channel', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan({ dropAfter: 'playback_start1', dropMs: 100 }) } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(await r.call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'hung_up' });
    const rec = await r.call.ended;
    expect(rec.outcome).toBe('failed');
    expect(rec.reason).toMatch(/interrupted/);
    expect(engine.healthy!()).toBe(false);
    expect(await engine.whenConnected(5000)).toBe(true);
    await waitFor('the orphaned channel to be killed', () => peer!.lines().some((l) => l.startsWith('HANGUP ') && l.includes(r.call.id)));
    expect(peer.commands()).toContain(`api uuid_kill ${r.call.id} NORMAL_CLEARING`);
  });

  it('a channel left parked without its controller is torn down by park_timeout', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan() } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port, { parkTimeoutSeconds: 1 }));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    await engine.close(); // callpay "crashes": nobody will uuid_kill this channel
    engine = undefined;
    await waitFor('park_timeout', () => peer!.lines().some((l) => l.startsWith('PARK_TIMEOUT') && l.includes(r.call.id)), { timeoutMs: 4000 });
  });

  it('FreeSWITCH restarts: dials fail as failed while it is down, /readyz-health is false, then calls work again', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan() } } });
    const port = peer.port;
    engine = await createFreeswitchEngine(engineOptions(port));
    expect(engine.healthy!()).toBe(true);
    const first = await engine.dial({ number: NUMBER, log });
    if (first.kind !== 'answered') throw new Error(first.kind);
    await peer.stop();
    expect((await first.call.ended).reason).toMatch(/interrupted/);
    expect(engine.healthy!()).toBe(false);
    const down = await engine.dial({ number: NUMBER, log });
    expect(down.kind).toBe('failed');
    peer = await startEslPeer({ dir: dir.path, port, scenario: { numbers: { '886900000001': answerPlan() } } });
    expect(await engine.whenConnected(5000)).toBe(true);
    const again = await engine.dial({ number: NUMBER, log });
    expect(again.kind).toBe('answered');
    if (again.kind === 'answered') await again.call.hangup();
  });

  it('in-band digits count only once start_dtmf has run (telephony.freeswitch.inbandDtmf)', async () => {
    const plan = answerPlan({ keys: [{ after: 'playback_end1', ms: 50, digits: '42#', inband: true }] });
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': plan } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port, { inbandDtmf: true }));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(peer.lines().some((l) => l.includes('"execute-app-name":"start_dtmf"'))).toBe(true);
    await r.call.play(ANNOUNCEMENT.slice(0, 1), { bargeIn: true });
    expect(await r.call.collect({ minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 2000, interDigitTimeoutMs: 1000 })).toMatchObject({ digits: '42' });
    await r.call.hangup();
  });

  it('without inbandDtmf no start_dtmf is sent and in-band tones are not heard', async () => {
    const plan = answerPlan({ keys: [{ after: 'answer', ms: 50, digits: '42#', inband: true }] });
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': plan } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(await r.call.collect({ minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 800, interDigitTimeoutMs: 500 })).toEqual({ kind: 'no_input' });
    expect(peer.lines().some((l) => l.includes('start_dtmf'))).toBe(false);
    await r.call.hangup();
  });

  it('closing the engine ends a call in progress as interrupted instead of leaving it hanging', async () => {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886900000001': answerPlan() } } });
    engine = await createFreeswitchEngine(engineOptions(peer.port));
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(r.kind);
    const collecting = r.call.collect({ minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 10_000, interDigitTimeoutMs: 500 });
    await engine.close();
    engine = undefined;
    expect(await collecting).toEqual({ kind: 'hung_up' });
    expect((await r.call.ended).reason).toMatch(/interrupted/);
  });

  it('a wrong password: not connected, retried, and the password never reaches the log', async () => {
    peer = await startEslPeer({ dir: dir.path, password: 'right-one', scenario: { numbers: {} } });
    let logged = '';
    const sink = new Writable({ write(chunk, _enc, cb) { logged += String(chunk); cb(); } });
    engine = await createFreeswitchEngine(engineOptions(peer.port, { password: 'Sup3rSecretPw', log: pino({ level: 'trace' }, sink) }));
    expect(engine.healthy!()).toBe(false);
    expect((await engine.dial({ number: NUMBER, log })).kind).toBe('failed');
    await waitFor('a retry', () => peer!.commands().filter((c) => c.startsWith('auth')).length >= 2);
    expect(logged).toContain('not connected');
    expect(logged).not.toContain('Sup3rSecretPw');
  });
});

describe('callpay call test with telephony.engine = "freeswitch"', () => {
  it('places a test call through the event socket and prints the outcome, never the digits or the password', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const dir = tempDir();
    const peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { '886912345678': { outcome: 'answer', clipMs: 100, keys: [{ after: 'answer', ms: 300, digits: '4411', gapMs: 80 }] } } } });
    try {
      await runCli(['init'], { cwd: dir.path });
      const passwordFile = `${dir.path}/esl-password`;
      (await import('node:fs')).writeFileSync(passwordFile, 'ClueCon\n', { mode: 0o600 });
      const env = {
        CALLPAY_TELEPHONY_ENGINE: 'freeswitch',
        CALLPAY_TELEPHONY_FREESWITCH_PORT: String(peer.port),
        CALLPAY_TELEPHONY_FREESWITCH_PASSWORD_FILE: passwordFile,
      };
      const r = await runCli(['call', 'test', '--number', '+886912345678', '--digits', '4', '--json'], { cwd: dir.path, env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'answered', digits_received: 4, input: 'max_digits' });
      expect(r.stdout + r.logs).not.toContain('4411');
      expect(r.stdout + r.logs).not.toContain('ClueCon');
      expect(peer.commands().some((c) => c.startsWith('bgapi originate'))).toBe(true);
    } finally {
      await peer.stop();
      dir.remove();
    }
  });
});
