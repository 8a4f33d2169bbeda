import { LIMITS } from './message.js';

/**
 * Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): on a stream the Content-Length
 * header is mandatory and is the only thing that says where a message ends. No sockets here: the
 * connection feeds bytes in and acts on what comes out.
 *
 * Between messages a peer may send CRLF keep-alives (RFC 5626 §3.5.1): a double CRLF is a "ping",
 * answered with a single CRLF ("pong"); a single CRLF is skipped.
 *
 * Whatever breaks the framing (no Content-Length, an unreadable or absurd one, a header block that
 * never ends) makes the rest of the stream meaningless: the caller must close the connection. A
 * message that is framed but does not parse only costs itself (the transport drops it).
 */

export const STREAM_LIMITS = {
  /** Start line and headers, up to the empty line. */
  maxHeaderBytes: 16_384,
  /** Largest body a Content-Length may announce. */
  maxBodyBytes: LIMITS.maxMessageBytes - 16_384,
} as const;

export type FramingErrorCode = 'header_too_large' | 'missing_content_length' | 'bad_content_length' | 'body_too_large';

export type Frame =
  | { kind: 'message'; data: Buffer }
  /** A double-CRLF keep-alive: answer with a single CRLF. */
  | { kind: 'ping' }
  | { kind: 'error'; code: FramingErrorCode };

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** The Content-Length of a header block ("Content-Length" or its compact form "l"), or an error. */
function contentLength(head: string): number | FramingErrorCode {
  const values = new Set<string>();
  for (const line of head.split(/\r?\n/)) {
    const m = /^(content-length|l)[ \t]*:(.*)$/i.exec(line);
    if (m) values.add(m[2]!.trim());
  }
  if (values.size === 0) return 'missing_content_length';
  if (values.size > 1) return 'bad_content_length';
  const [value = ''] = values;
  if (!/^\d{1,9}$/.test(value)) return 'bad_content_length';
  const n = Number(value);
  return n > STREAM_LIMITS.maxBodyBytes ? 'body_too_large' : n;
}

export class StreamFramer {
  // A growable window store[start, end): appending and consuming stay linear in the bytes received,
  // however the peer slices them (a byte at a time must not cost a copy of everything held).
  private store: Buffer = Buffer.alloc(1024);
  private start = 0;
  private end = 0;
  /** Bytes from `start` already searched for the end of the header block. */
  private scanned = 0;
  /** Length of the message at `start`, once its header block has been read. */
  private total: number | null = null;
  private failed = false;

  /** Bytes held waiting for the rest of a message (for tests and limits). */
  get pending(): number {
    return this.end - this.start;
  }

  /** Adds bytes; returns what they complete. After an error nothing more is framed. */
  push(chunk: Buffer): Frame[] {
    if (this.failed) return [];
    this.append(chunk);
    const out: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return out;
      out.push(frame);
      if (frame.kind === 'error') {
        this.failed = true;
        this.store = Buffer.alloc(0);
        this.start = this.end = 0;
        return out;
      }
    }
  }

  private append(chunk: Buffer): void {
    const held = this.end - this.start;
    if (this.end + chunk.length > this.store.length) {
      let capacity = this.store.length;
      while (capacity < held + chunk.length) capacity *= 2;
      const next = capacity === this.store.length ? this.store : Buffer.alloc(capacity);
      this.store.copy(next, 0, this.start, this.end);
      this.store = next;
      this.start = 0;
      this.end = held;
    }
    chunk.copy(this.store, this.end);
    this.end += chunk.length;
  }

  private view(): Buffer {
    return this.store.subarray(this.start, this.end);
  }

  private consume(n: number): void {
    this.start += n;
    this.scanned = 0;
    this.total = null;
    if (this.start === this.end) this.start = this.end = 0;
  }

  private next(): Frame | null {
    let buffer = this.view();
    // Keep-alives between messages. CRLF or CRLF CR might be the start of a ping: wait for more.
    while (this.total === null && buffer.length >= 2 && buffer.subarray(0, 2).equals(CRLF)) {
      if (buffer.length >= 4 && buffer.subarray(0, 4).equals(CRLFCRLF)) {
        this.consume(4);
        return { kind: 'ping' };
      }
      if (buffer.length < 4 && CRLFCRLF.subarray(0, buffer.length).equals(buffer)) return null;
      this.consume(2);
      buffer = this.view();
    }
    if (this.total === null) {
      const headEnd = buffer.indexOf(CRLFCRLF, Math.max(0, this.scanned - 3));
      if (headEnd < 0) {
        this.scanned = buffer.length;
        return buffer.length > STREAM_LIMITS.maxHeaderBytes ? { kind: 'error', code: 'header_too_large' } : null;
      }
      if (headEnd > STREAM_LIMITS.maxHeaderBytes) return { kind: 'error', code: 'header_too_large' };
      const length = contentLength(buffer.subarray(0, headEnd).toString('latin1'));
      if (typeof length !== 'number') return { kind: 'error', code: length };
      this.total = headEnd + 4 + length;
    }
    const total = this.total;
    if (buffer.length < total) return null;
    // A copy: the message outlives the window it sits in.
    const data = Buffer.from(buffer.subarray(0, total));
    this.consume(total);
    return { kind: 'message', data };
  }
}
