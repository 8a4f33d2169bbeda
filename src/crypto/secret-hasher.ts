import { Worker } from 'node:worker_threads';
import { CallpayError } from '../domain/errors.js';
import type { Keyring } from './keyring.js';

export interface SecretHasher {
  /** `<key id>:$argon2id$…`: the id names the master key whose pepper went in. */
  hash(secret: string): Promise<string>;
  /**
   * false for a wrong secret or a malformed stored string; throws if the hasher fails or the
   * stored hash was made under a master key that is no longer configured (key_missing: not the
   * consumer's mistake, so it must not count toward a lockout).
   */
  verify(secret: string, stored: string): Promise<boolean>;
  /** Whether a hash that just verified should be made again (under the current key, after a rotation). */
  needsRehash(stored: string): boolean;
  close(): Promise<void>;
}

const TAGGED = /^([0-9a-f]{16}):(\$argon2id\$.*)$/s;

/**
 * The master key a stored hash was peppered under: its tag, or null for a hash made before hashes
 * were tagged (under the key the database had then; `callpay key rotate` tags those).
 */
export function pepperKeyOf(stored: string): string | null {
  return TAGGED.exec(stored)?.[1] ?? null;
}

/** The stored hash with its key tag set (or replaced). */
export function tagPepperKey(stored: string, keyId: string): string {
  return `${keyId}:${TAGGED.exec(stored)?.[2] ?? stored}`;
}

export interface Argon2Params {
  opsLimit: number;
  memLimitKiB: number;
  workers: number;
}

// OWASP's minimum for Argon2id: m = 19 MiB, t = 2, p = 1.
const MIN_OPS = 2;
const MIN_MEM_KIB = 19456;

type Request = { op: 'hash'; pepper: string } | { op: 'verify'; pepper: string; stored: string };
type Reply = { ok: true; value: string | boolean } | { ok: false };

interface Job {
  request: Request;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

function checkParams(p: Argon2Params): void {
  const bad = (field: string, rule: string) =>
    new CallpayError('config_invalid', `argon2 ${field} must be ${rule}`, field);
  if (!Number.isSafeInteger(p.opsLimit) || p.opsLimit < MIN_OPS) throw bad('opsLimit', `an integer >= ${MIN_OPS}`);
  if (!Number.isSafeInteger(p.memLimitKiB) || p.memLimitKiB < MIN_MEM_KIB) {
    throw bad('memLimitKiB', `an integer >= ${MIN_MEM_KIB}`);
  }
  if (!Number.isSafeInteger(p.workers) || p.workers < 1) throw bad('workers', 'an integer >= 1');
}

/**
 * Argon2id over an HMAC pepper. The HMAC (needs the key) runs here; the Argon2 work runs in a small
 * lazily started worker pool so the event loop, which carries live call audio, never stalls.
 * `workerUrl` exists for tests that need a misbehaving worker.
 */
export function createSecretHasher(
  keyring: Pick<Keyring, 'pepper' | 'currentId' | 'ids'>,
  params: Argon2Params,
  opts: { workerUrl?: URL } = {},
): SecretHasher {
  checkParams(params);
  const workerUrl = opts.workerUrl ?? new URL('./hash-worker.mjs', import.meta.url);
  const workerData = { opsLimit: params.opsLimit, memLimitBytes: params.memLimitKiB * 1024 };
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let closed = false;

  function finish(slot: Slot, settle: (job: Job) => void): void {
    const job = slot.job;
    slot.job = undefined;
    if (job) settle(job); // taking the job off the slot first makes every job settle exactly once
  }

  function retire(slot: Slot, reason: string): void {
    const i = slots.indexOf(slot);
    if (i === -1) return;
    slots.splice(i, 1);
    finish(slot, (job) => job.reject(new CallpayError('internal', `secret hasher worker ${reason}`)));
    dispatch(); // a replacement starts lazily if work is waiting
  }

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(workerUrl, { workerData }), job: undefined };
    slot.worker.on('message', (reply: Reply) => {
      finish(slot, (job) =>
        reply.ok ? job.resolve(reply.value) : job.reject(new CallpayError('internal', 'secret hasher job failed')),
      );
      slot.worker.unref(); // an idle pool must not keep the process alive
      dispatch();
    });
    slot.worker.on('error', () => {
      retire(slot, 'crashed');
      void slot.worker.terminate();
    });
    slot.worker.on('messageerror', () => {
      retire(slot, 'sent an unreadable reply');
      void slot.worker.terminate();
    });
    slot.worker.on('exit', () => retire(slot, 'exited'));
    slots.push(slot);
    return slot;
  }

  function dispatch(): void {
    while (!closed && queue.length > 0) {
      const slot = slots.find((s) => !s.job) ?? (slots.length < params.workers ? spawn() : undefined);
      if (!slot) return;
      const job = queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.request);
    }
  }

  function submit(request: Request): Promise<string | boolean> {
    if (closed) return Promise.reject(new CallpayError('internal', 'secret hasher is closed'));
    return new Promise((resolve, reject) => {
      queue.push({ request, resolve, reject });
      dispatch();
    });
  }

  function pepperBase64(secret: string, keyId?: string): string {
    const pepper = keyring.pepper(secret, keyId);
    const b64 = pepper.toString('base64');
    pepper.fill(0);
    return b64;
  }

  async function verifyUnder(secret: string, argon: string, keyId: string): Promise<boolean> {
    return (await submit({ op: 'verify', pepper: pepperBase64(secret, keyId), stored: argon })) === true;
  }

  return {
    async hash(secret) {
      const keyId = keyring.currentId;
      const value = await submit({ op: 'hash', pepper: pepperBase64(secret, keyId) });
      if (typeof value !== 'string') throw new CallpayError('internal', 'secret hasher returned no hash');
      return tagPepperKey(value, keyId);
    },
    async verify(secret, stored) {
      const tagged = TAGGED.exec(stored);
      if (tagged) return verifyUnder(secret, tagged[2]!, tagged[1]!); // throws key_missing for a key no longer held
      // An untagged hash predates tagging: it was made under one of the held keys, which one is unknown.
      for (const keyId of keyring.ids) if (await verifyUnder(secret, stored, keyId)) return true;
      return false;
    },
    needsRehash(stored) {
      return pepperKeyOf(stored) !== keyring.currentId;
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new CallpayError('internal', 'secret hasher is closed'));
      // terminate() makes each worker exit, and the exit handler rejects its running job.
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
