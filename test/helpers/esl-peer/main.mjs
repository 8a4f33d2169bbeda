// A FreeSWITCH event-socket peer for tests, built from ../shared/freeswitch-esl recordings (FreeSWITCH
// 1.11): auth, event plain, bgapi originate, api uuid_break|uuid_kill|uuid_getvar|status, sendmsg execute
// (playback, start_dtmf), Content-Length framing, URL-encoded event values. A separate process over
// TCP on loopback. Usage: node main.mjs --scenario FILE [--port 0] [--password ClueCon]
// Prints "LISTENING <port>" once bound, and one "CMD <json>" line per command received, so a test
// can assert on what the engine sent. Bounded: exits after --max-seconds (default 120).
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const password = args.get('password') ?? 'ClueCon';
const scenario = args.has('scenario') ? JSON.parse(readFileSync(args.get('scenario'), 'utf8')) : { numbers: {} };
const maxSeconds = Number(args.get('max-seconds') ?? '120');
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();

const CORE_UUID = randomUUID();
let sequence = 1000;
/** Every connected, authenticated session subscribed to events (FreeSWITCH broadcasts to each). */
const sessions = new Set();
/** Channels by Unique-ID; they outlive the socket that created them, as in FreeSWITCH. */
const channels = new Map();
/** Dials per number, for scenarios that change from one attempt to the next. */
const dialled = new Map();

const log = (what, data) => process.stdout.write(`${what} ${JSON.stringify(data)}\n`);
// FreeSWITCH's switch_url_encode: ",/()" and alphanumerics stay, "#" is %23, ":" %3A, " " %20...
const enc = (v) => encodeURIComponent(String(v)).replace(/%2C/g, ',').replace(/%2F/g, '/').replace(/%28/g, '(').replace(/%29/g, ')');

function frame(headers, body = '') {
  const len = Buffer.byteLength(body);
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\n`).join('');
  return (len > 0 ? `Content-Length: ${len}\n` : '') + lines + '\n' + body;
}

function eventBody(name, fields, content) {
  const base = {
    'Event-Name': name, 'Core-UUID': CORE_UUID, 'FreeSWITCH-Hostname': 'peer', 'FreeSWITCH-IPv4': '127.0.0.1',
    'Event-Date-Timestamp': Date.now() * 1000, 'Event-Sequence': sequence++, ...fields,
  };
  let text = Object.entries(base).map(([k, v]) => `${k}: ${enc(v)}`).join('\n') + '\n';
  if (content !== undefined) text += `Content-Length: ${Buffer.byteLength(content)}\n\n${content}`;
  else text += '\n';
  return text;
}

function broadcast(name, fields, content) {
  const body = eventBody(name, fields, content);
  for (const s of sessions) if (s.events.has(name) || s.events.has('ALL')) s.socket.write(frame({ 'Content-Type': 'text/event-plain' }, body));
}

function channelEvent(ch, name, extra = {}) {
  broadcast(name, {
    'Channel-State': ch.state, 'Channel-Call-State': ch.callState, 'Channel-Name': `sofia/gateway/carrier/${ch.number}`,
    'Unique-ID': ch.uuid, 'Call-Direction': 'outbound', 'Answer-State': ch.answerState,
    'Caller-Destination-Number': ch.number, variable_origination_uuid: ch.uuid, ...extra,
  });
}

function parseOriginate(arg) {
  const m = /^originate\s+\{([^}]*)\}(\S+)\s+&park\(\)$/.exec(arg);
  if (!m) return null;
  const vars = Object.fromEntries(m[1].split(',').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)]; }));
  const number = m[2].split('/').pop().split('@')[0].replace(/^\+/, '');
  return { vars, dial: m[2], number };
}

function later(ch, ms, fn) {
  const t = setTimeout(() => { ch.timers.delete(t); if (!ch.gone) fn(); }, ms);
  ch.timers.add(t);
}

function backgroundJob(job, text) {
  broadcast('BACKGROUND_JOB', { 'Job-UUID': job.uuid, 'Job-Command': 'originate', 'Job-Command-Arg': job.arg }, text + '\n');
}

function hangup(ch, cause) {
  if (ch.gone) return;
  ch.gone = true;
  for (const t of ch.timers) clearTimeout(t);
  ch.timers.clear();
  ch.answerState = 'hangup';
  ch.state = 'CS_HANGUP';
  ch.callState = 'HANGUP';
  const extra = { 'Hangup-Cause': cause };
  channelEvent(ch, 'CHANNEL_HANGUP', extra);
  if (ch.playing) {
    const p = ch.playing;
    ch.playing = null;
    channelEvent(ch, 'PLAYBACK_STOP', extra);
    channelEvent(ch, 'CHANNEL_EXECUTE_COMPLETE', { ...extra, Application: 'playback', 'Application-Data': p.arg, 'Application-UUID': p.appUuid, 'Application-Response': 'PLAYBACK ERROR' });
  }
  if (ch.answered) channelEvent(ch, 'CHANNEL_EXECUTE_COMPLETE', { ...extra, Application: 'park', 'Application-UUID': ch.parkUuid, 'Application-Response': '_none_' });
  if (!ch.answered && ch.job) backgroundJob(ch.job, `-ERR ${cause}`);
  setTimeout(() => { channelEvent(ch, 'CHANNEL_HANGUP_COMPLETE', extra); channels.delete(ch.uuid); log('HANGUP', { uuid: ch.uuid, cause }); }, 20);
}

function keyDigits(ch, spec) {
  const gap = spec.gapMs ?? 100;
  [...spec.digits].forEach((d, i) => later(ch, (spec.ms ?? 0) + i * gap, () => {
    if (spec.inband && !ch.inband) return; // tones nobody listens for
    channelEvent(ch, 'DTMF', { 'DTMF-Digit': d, 'DTMF-Duration': 1280, 'DTMF-Source': spec.inband ? 'INBAND_AUDIO' : 'RTP' });
  }));
}

function trigger(ch, when) {
  for (const k of ch.plan.keys ?? []) if ((k.after ?? 'answer') === when && !k.done) { k.done = true; keyDigits(ch, k); }
  if (ch.plan.hangupAfter === when) later(ch, ch.plan.hangupMs ?? 0, () => hangup(ch, 'NORMAL_CLEARING'));
  if (ch.plan.dropAfter === when) later(ch, ch.plan.dropMs ?? 0, () => { log('DROP', { uuid: ch.uuid }); for (const s of [...sessions]) s.socket.destroy(); });
}

function originate(session, job, cmd) {
  const o = parseOriginate(cmd);
  if (!o) return backgroundJob(job, '-ERR INVALID_NUMBER_FORMAT'), undefined;
  // A list plays one entry per dial of that number (busy, then answer...); the last one repeats.
  const entry = scenario.numbers[o.number] ?? scenario.default ?? { outcome: 'answer' };
  const nth = (dialled.get(o.number) ?? 0);
  dialled.set(o.number, nth + 1);
  const plan = structuredClone(Array.isArray(entry) ? entry[Math.min(nth, entry.length - 1)] : entry);
  const uuid = o.vars.origination_uuid ?? randomUUID();
  const ch = {
    uuid, number: o.number, vars: o.vars, plan, job, timers: new Set(), gone: false, answered: false, playing: null, inband: false,
    answerState: 'ringing', state: 'CS_INIT', callState: 'DOWN', parkUuid: randomUUID(), plays: 0, owner: session,
  };
  channels.set(uuid, ch);
  channelEvent(ch, 'CHANNEL_CREATE');
  const ringMs = plan.ringMs ?? 30;
  switch (plan.outcome) {
    case 'busy':
      return later(ch, ringMs, () => hangup(ch, 'USER_BUSY'));
    case 'cause':
      return later(ch, ringMs, () => hangup(ch, plan.cause));
    case 'no_answer': {
      later(ch, 10, () => { ch.callState = 'RINGING'; channelEvent(ch, 'CHANNEL_PROGRESS'); });
      const seconds = Number(o.vars.originate_timeout ?? '60');
      return later(ch, seconds * 1000, () => hangup(ch, 'NO_ANSWER'));
    }
    case 'silent':
      return undefined; // FreeSWITCH that never reports anything
    default:
      later(ch, 10, () => channelEvent(ch, 'CHANNEL_PROGRESS'));
      later(ch, ringMs, () => {
        ch.answered = true;
        ch.answerState = 'answered';
        ch.state = 'CS_EXECUTE';
        ch.callState = 'ACTIVE';
        channelEvent(ch, 'CHANNEL_ANSWER');
        backgroundJob(job, `+OK ${uuid}`);
        channelEvent(ch, 'CHANNEL_EXECUTE', { Application: 'park', 'Application-UUID': ch.parkUuid });
        const park = Number(o.vars.park_timeout ?? '0');
        if (park > 0) later(ch, park * 1000, () => { log('PARK_TIMEOUT', { uuid }); hangup(ch, 'RECOVERY_ON_TIMER_EXPIRE'); });
        trigger(ch, 'answer');
      });
  }
  return undefined;
}

function execute(ch, h) {
  const app = h['execute-app-name'];
  const arg = h['execute-app-arg'] ?? '';
  const appUuid = h['Event-UUID'] ?? randomUUID();
  const data = { Application: app, 'Application-Data': arg, 'Application-UUID': appUuid, 'variable_current_application_data': arg };
  channelEvent(ch, 'CHANNEL_EXECUTE', data);
  if (app === 'playback') {
    const files = arg.startsWith('file_string://') ? arg.slice('file_string://'.length).split('!') : [arg];
    const ms = files.length * (ch.plan.clipMs ?? scenario.clipMs ?? 400);
    ch.playing = { appUuid, arg, t: null };
    ch.plays += 1;
    log('PLAYBACK', { uuid: ch.uuid, files });
    channelEvent(ch, 'PLAYBACK_START', data);
    trigger(ch, `playback_start${ch.plays}`);
    const t = setTimeout(() => finishPlayback(ch, 'FILE PLAYED', `playback_end${ch.plays}`), ms);
    ch.playing.t = t;
    ch.timers.add(t);
    return;
  }
  if (app === 'start_dtmf') ch.inband = true;
  channelEvent(ch, 'CHANNEL_EXECUTE_COMPLETE', { ...data, 'Application-Response': '_none_' });
}

function finishPlayback(ch, response, then) {
  const p = ch.playing;
  if (!p || ch.gone) return;
  ch.playing = null;
  clearTimeout(p.t);
  ch.timers.delete(p.t);
  const data = { Application: 'playback', 'Application-Data': p.arg, 'Application-UUID': p.appUuid, 'variable_current_application_data': p.arg };
  channelEvent(ch, 'PLAYBACK_STOP', data);
  channelEvent(ch, 'CHANNEL_EXECUTE_COMPLETE', { ...data, 'Application-Response': response });
  if (then) trigger(ch, then);
}

function handle(session, text) {
  const [first, ...rest] = text.split('\n');
  const h = Object.fromEntries(rest.filter((l) => l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
  const reply = (t) => session.socket.write(frame({ 'Content-Type': 'command/reply', 'Reply-Text': t }));
  const api = (t) => session.socket.write(frame({ 'Content-Type': 'api/response' }, t));
  log('CMD', { line: first.startsWith('auth ') ? 'auth ***' : first, headers: h });
  if (!session.authed) {
    if (first === `auth ${password}`) { session.authed = true; return reply('+OK accepted'); }
    reply('-ERR invalid');
    return session.socket.end(frame({ 'Content-Type': 'text/disconnect-notice' }, 'Disconnected, goodbye.\n'));
  }
  let m;
  if ((m = /^event plain (.+)$/.exec(first))) {
    for (const e of m[1].split(' ')) session.events.add(e);
    return reply('+OK event listener enabled plain');
  }
  if ((m = /^bgapi (.+)$/.exec(first))) {
    const job = { uuid: h['Job-UUID'] ?? randomUUID(), arg: m[1].replace(/^originate\s+/, '') };
    session.socket.write(frame({ 'Content-Type': 'command/reply', 'Reply-Text': `+OK Job-UUID: ${job.uuid}`, 'Job-UUID': job.uuid }));
    if (m[1].startsWith('originate ')) setImmediate(() => originate(session, job, m[1]));
    else setImmediate(() => backgroundJob(job, '-ERR unsupported by the test peer'));
    return undefined;
  }
  if ((m = /^api uuid_break (\S+)(?: all)?$/.exec(first))) {
    const ch = channels.get(m[1]);
    if (!ch) return api('-ERR No such channel!\n');
    api('+OK\n');
    if (ch.playing) setImmediate(() => finishPlayback(ch, 'FILE PLAYED', null));
    return undefined;
  }
  if ((m = /^api uuid_kill (\S+)(?: (\S+))?$/.exec(first))) {
    const ch = channels.get(m[1]);
    if (!ch || ch.gone) return api('-ERR No such channel!\n');
    api('+OK\n');
    setImmediate(() => hangup(ch, m[2] ?? 'NORMAL_CLEARING'));
    return undefined;
  }
  if ((m = /^api uuid_getvar (\S+) (\S+)$/.exec(first))) {
    const ch = channels.get(m[1]);
    if (!ch) return api('-ERR No such channel!\n');
    return api(ch.vars[m[2]] ?? '_undef_');
  }
  if (first === 'api status') {
    // The shape of FreeSWITCH 1.10's `status` (mod_commands), which `callpay doctor` reads.
    return api(`UP 0 years, 0 days, 0 hours, 0 minutes, ${Math.floor(process.uptime())} seconds, 0 milliseconds, 0 microseconds\nFreeSWITCH (Version 1.10.9 -release 64bit) is ready\n${channels.size} session(s) since startup\n0 session(s) - peak 0, last 5min 0\n0 session(s) per Sec out of max 30, peak 0, last 5min 0\n1000 session(s) max\nmin idle cpu 0.00/100.00\n`);
  }
  if ((m = /^sendmsg (\S+)$/.exec(first))) {
    const ch = channels.get(m[1]);
    if (!ch || ch.gone) return reply('-ERR invalid session id');
    reply('+OK');
    if (h['call-command'] === 'execute') setImmediate(() => execute(ch, h));
    return undefined;
  }
  if (first === 'exit') {
    reply('+OK bye');
    return session.socket.end();
  }
  return reply('-ERR command not found');
}

const server = createServer((socket) => {
  const session = { socket, authed: false, events: new Set() };
  sessions.add(session);
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (text.trim() !== '') handle(session, text.replace(/\r/g, ''));
    }
  });
  socket.on('close', () => { sessions.delete(session); log('CLOSED', {}); });
  socket.on('error', () => undefined);
  socket.write(frame({ 'Content-Type': 'auth/request' }));
});
server.listen(Number(args.get('port') ?? '0'), '127.0.0.1', () => log('LISTENING', server.address().port));
process.on('SIGTERM', () => process.exit(0));
