import { random } from './random.js';

/**
 * Seeded generators of hostile datagrams for the SIP/RTP fuzz test (issue 10): the same seed gives the
 * same datagrams in the same order, so a failure reproduces with FUZZ_SEED.
 *
 * Every request carries a Via with `rport` and the fuzzer's own port, and mutations never touch that
 * line: on loopback the phone shares the fuzzer's address, and an answer steered by a mangled Via to
 * the phone's port (a reflection no remote attacker could aim at another host) would upset sipp, not
 * callpay. The refusal of forged in-dialog requests goes to the datagram's source anyway.
 */

export interface LiveDialog {
  callId: string;
  /** Our tag (the From tag of callpay's INVITE): the To tag of the phone's requests. */
  ourTag: string;
  /** The phone's tag (the To tag of its 200). */
  phoneTag: string;
  /** From and To header values of the phone's requests, tags included. */
  phoneFrom: string;
  phoneTo: string;
  /** The telephone-event payload type of the call. */
  eventPt: number;
}

export interface FuzzTargets {
  dialog: LiveDialog;
  /** The port the fuzzer sends from (for its Via). */
  fuzzPort: number;
}

export type Target = 'sip' | 'rtp';

export interface Datagram {
  to: Target;
  kind: string;
  data: Buffer;
}

/** The largest UDP payload over IPv4 (65535 - 20 - 8): more is refused by the OS (EMSGSIZE). */
export const MAX_UDP_IPV4 = 65_507;

const METHODS = ['BYE', 'INFO', 'INVITE', 'OPTIONS', 'CANCEL', 'ACK', 'UPDATE', 'REFER', 'MESSAGE', 'NOTIFY', 'PRACK', 'SUBSCRIBE', 'PUBLISH', 'REGISTER'];
const DIGITS = '0123456789*#';

export class Fuzzer {
  private readonly next: (max: number) => number;
  private serial = 0;

  constructor(
    seed: number,
    private readonly targets: FuzzTargets,
  ) {
    this.next = random(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.next(items.length)]!;
  }

  private bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.next(2 ** 32);
      b[i] = v & 0xff;
      if (i + 1 < n) b[i + 1] = (v >>> 8) & 0xff;
      if (i + 2 < n) b[i + 2] = (v >>> 16) & 0xff;
      if (i + 3 < n) b[i + 3] = (v >>> 24) & 0xff;
    }
    return b;
  }

  private token(len = 1 + this.next(12)): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`\'~';
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[this.next(alphabet.length)];
    return s;
  }

  private via(): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.targets.fuzzPort};rport;branch=z9hG4bKfz${this.serial++}${this.token(6)}`;
  }

  /** A well-formed request; `forged` = inside the live dialog (its Call-ID and both tags). */
  request(method: string, forged: boolean, opts: { body?: string; headers?: string[]; cseq?: number; contentLength?: string } = {}): string {
    const d = this.targets.dialog;
    const body = opts.body ?? '';
    return [
      `${method} sip:callpay@127.0.0.1 SIP/2.0`,
      this.via(),
      'Max-Forwards: 70',
      forged ? `From: ${d.phoneFrom}` : `From: <sip:fuzz@127.0.0.1>;tag=${this.token(8)}`,
      forged ? `To: ${d.phoneTo}` : `To: <sip:callpay@127.0.0.1>${this.next(2) ? `;tag=${this.token(8)}` : ''}`,
      `Call-ID: ${forged || this.next(4) === 0 ? d.callId : this.token(20)}`,
      `CSeq: ${opts.cseq ?? this.next(2 ** 31)} ${method}`,
      `Contact: <sip:evil@127.0.0.1:${this.targets.fuzzPort}>`,
      ...(opts.headers ?? []),
      `Content-Length: ${opts.contentLength ?? Buffer.byteLength(body, 'latin1')}`, // sent as latin1: one byte per char
      '',
      body,
    ].join('\r\n');
  }

  /** An SDP that would move the call's media to the fuzzer, hold it, or make no sense. */
  private sdp(): string {
    const port = this.next(3) === 0 ? this.targets.fuzzPort : this.next(65536);
    const lines = ['v=0', `o=evil 1 ${this.next(99)} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 8 ${this.targets.dialog.eventPt}`, 'a=rtpmap:0 PCMU/8000', `a=rtpmap:${this.targets.dialog.eventPt} telephone-event/8000`, this.pick(['a=sendrecv', 'a=sendonly', 'a=inactive', ''])];
    if (this.next(3) === 0) lines.splice(this.next(lines.length), 0, this.bytes(this.next(60)).toString('latin1'));
    return lines.join('\r\n') + '\r\n';
  }

  private forged(): { kind: string; text: string } {
    const method = this.pick(METHODS);
    if (method === 'INFO') {
      const digit = this.pick([...DIGITS]);
      const body = this.next(2) ? `Signal=${digit}\r\nDuration=160\r\n` : digit;
      return { kind: 'forged-info', text: this.request('INFO', true, { body, headers: [`Content-Type: ${body.length === 1 ? 'application/dtmf' : 'application/dtmf-relay'}`] }) };
    }
    if (method === 'INVITE') return { kind: 'forged-invite', text: this.request('INVITE', true, { body: this.sdp(), headers: ['Content-Type: application/sdp'] }) };
    return { kind: `forged-${method.toLowerCase()}`, text: this.request(method, true) };
  }

  /** Flips, inserts or deletes bytes outside the Via line. */
  private mutate(text: string): Buffer {
    const parts: Buffer[] = [Buffer.from(text, 'latin1')];
    for (let n = 1 + this.next(6); n > 0; n--) {
      const b = Buffer.concat(parts.splice(0));
      const viaStart = b.indexOf('Via: SIP/2.0/UDP');
      const viaEnd = b.indexOf('\r\n', viaStart);
      let at = this.next(b.length);
      if (at >= viaStart && at <= viaEnd) at = viaEnd + 2 + this.next(Math.max(1, b.length - viaEnd - 2));
      if (at >= b.length) at = b.length - 1;
      const op = this.next(3);
      if (op === 0) b[at] = this.next(256);
      if (op === 1) parts.push(b.subarray(0, at), this.bytes(1 + this.next(8)), b.subarray(at));
      else if (op === 2) parts.push(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + this.next(8))));
      else parts.push(b);
    }
    return Buffer.concat(parts);
  }

  private sipDatagram(): { kind: string; data: Buffer | string } {
    const d = this.targets.dialog;
    switch (this.next(14)) {
      case 0:
        return { kind: 'random-bytes', data: this.bytes(this.next(1500)) };
      case 1: {
        const lines = Array.from({ length: 1 + this.next(20) }, () => `${this.token()}: ${this.token(this.next(80))}`);
        return { kind: 'random-text', data: `${this.pick([...METHODS, this.token()])} ${this.token()} SIP/2.0\r\n${lines.join('\r\n')}\r\n\r\n` };
      }
      case 2: {
        const text = this.forged().text;
        return { kind: 'truncated', data: text.slice(0, this.next(text.length)) };
      }
      case 3: {
        // As large as UDP allows (over IPv4), or around a typical MTU; one in eight asks the OS for more than 64 KB.
        const size = this.pick([MAX_UDP_IPV4, 1400 + this.next(200), 8192 + this.next(4096), ...(this.next(8) === 0 ? [65_536 + this.next(1000)] : [])]);
        const head = this.request(this.pick(METHODS), this.next(2) === 0, { headers: [`X-Pad: ${'a'.repeat(this.next(9000))}`] });
        const data = Buffer.alloc(Math.max(size, head.length), 'b');
        data.write(head, 'latin1');
        return { kind: size > MAX_UDP_IPV4 ? 'oversized-over-64k' : 'oversized', data };
      }
      case 4: {
        const body = `Signal=${this.pick([...DIGITS])}\r\n`;
        const lie = this.pick([String(body.length + 1 + this.next(5000)), String(Math.max(0, body.length - 1 - this.next(body.length))), '-1', '99999999', 'abc', '1e3', '', ` ${body.length}`, `${body.length}\r\nContent-Length: ${body.length + 3}`]);
        return { kind: 'lying-content-length', data: this.request('INFO', this.next(2) === 0, { body, headers: ['Content-Type: application/dtmf-relay'], contentLength: lie }) };
      }
      case 5:
        return { kind: 'unknown-method', data: this.request(this.token(1 + this.next(20)).toUpperCase().replace(/[^A-Z]/g, 'X') || 'FOO', this.next(2) === 0) };
      case 6: {
        // Folding in odd places: a continuation as the first header, inside the start line, of Call-ID, with tabs, blank-ish lines.
        const lines = this.request(this.pick(METHODS), this.next(2) === 0).split('\r\n');
        const at = 1 + this.next(lines.length - 2);
        const folds = [' folded', '\tcontinued', ' ', '\t', `  ${this.token()}`, '\r\n continued after CRLF', ' \u0000'];
        lines.splice(this.pick([0, 1, at, at]), 0, this.pick(folds));
        if (this.next(2) === 0) lines.splice(2, 0, `Call-ID:\r\n ${d.callId}`);
        return { kind: 'header-folding', data: lines.join('\r\n') };
      }
      case 7:
      case 8:
      case 9: {
        const f = this.forged();
        return { kind: f.kind, data: f.text };
      }
      case 10:
        return { kind: 'mutated', data: this.mutate(this.forged().text) };
      case 11: {
        // Responses nobody asked for, some with the live Call-ID.
        const status = this.pick([100, 180, 200, 202, 401, 403, 407, 481, 487, 500, 603, 699]);
        return {
          kind: 'stray-response',
          data: [`SIP/2.0 ${status} Whatever`, `Via: SIP/2.0/UDP 127.0.0.1:${this.targets.fuzzPort};branch=z9hG4bK${this.token(10)}`, `From: <sip:callpay@127.0.0.1>;tag=${d.ourTag}`, `To: <sip:phone@127.0.0.1>;tag=${d.phoneTag}`, `Call-ID: ${this.next(2) ? d.callId : this.token(16)}`, `CSeq: ${this.next(100)} ${this.pick(METHODS)}`, 'Content-Length: 0', '', ''].join('\r\n'),
        };
      }
      case 12: {
        // Header bombs: very many headers, one very long line, control characters, odd URIs.
        const variant = this.next(4);
        const headers =
          variant === 0 ? Array.from({ length: 150 + this.next(100) }, (_, i) => `X-H${i}: ${this.token()}`)
            : variant === 1 ? [`Subject: ${'s'.repeat(8000 + this.next(2000))}`]
              : variant === 2 ? [`X-Ctl: a\u0001b\u001bc\u007f`, 'Route: <sip:\u0000@x>']
                : [`Record-Route: ${Array.from({ length: 60 }, () => `<sip:${this.token()}@${this.token()};lr>`).join(', ')}`];
        return { kind: 'header-bomb', data: this.request(this.pick(METHODS), this.next(2) === 0, { headers }) };
      }
      default:
        return { kind: 'forged-invite-garbage-sdp', data: this.request('INVITE', true, { body: this.bytes(this.next(800)).toString('latin1'), headers: ['Content-Type: application/sdp'] }) };
    }
  }

  private rtpDatagram(): { kind: string; data: Buffer } {
    const header = (pt: number, marker: boolean) => {
      const h = Buffer.alloc(12);
      h[0] = 0x80;
      h[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
      h.writeUInt16BE(this.next(65536), 2);
      h.writeUInt32BE(this.next(2 ** 32), 4);
      h.writeUInt32BE(this.next(2 ** 32), 8);
      return h;
    };
    switch (this.next(5)) {
      case 0:
        return { kind: 'rtp-random', data: this.bytes(this.next(400)) };
      case 1: {
        // A whole key press, as a phone would send it: every forged event must be ignored.
        const event = Buffer.from([this.next(16), (this.next(2) ? 0x80 : 0) | 10, 0, 160 * (1 + this.next(8))]);
        return { kind: 'rtp-dtmf', data: Buffer.concat([header(this.targets.dialog.eventPt, this.next(2) === 0), event]) };
      }
      case 2: {
        const h = header(this.pick([0, 8, this.targets.dialog.eventPt, this.next(128)]), false);
        const variant = this.next(4);
        if (variant === 0) h[0] = 0x80 | 0x0f; // 15 CSRCs announced, none there
        if (variant === 1) h[0] = 0x90; // an extension header announced, none there
        if (variant === 2) h[0] = 0xa0; // padding announced, bigger than the packet
        if (variant === 3) h[0] = this.next(256);
        return { kind: 'rtp-malformed', data: Buffer.concat([h, variant === 2 ? Buffer.from([0, 0, 200]) : this.bytes(this.next(8))]) };
      }
      case 3:
        return { kind: 'rtp-audio', data: Buffer.concat([header(this.pick([0, 8]), false), this.bytes(160)]) };
      default:
        return { kind: 'rtp-oversized', data: Buffer.concat([header(this.targets.dialog.eventPt, false), this.bytes(this.pick([1400, 9000, MAX_UDP_IPV4 - 12]))]) };
    }
  }

  /** The next datagram: about two thirds at the SIP port, one third at the call's RTP port. */
  nextDatagram(): Datagram {
    if (this.next(3) === 0) {
      const r = this.rtpDatagram();
      return { to: 'rtp', kind: r.kind, data: r.data };
    }
    const s = this.sipDatagram();
    return { to: 'sip', kind: s.kind, data: typeof s.data === 'string' ? Buffer.from(s.data, 'latin1') : s.data };
  }
}
