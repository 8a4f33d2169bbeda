// Argon2id runs here, never on the main thread: one hash blocks its thread for tens to hundreds of ms.
// Plain JavaScript so the same file runs from src/ (vitest, tsx) and from dist/ (tsc copies it).
// Protocol: one job at a time. In: { op: 'hash' | 'verify', pepper: base64, stored? }.
// Out: { ok: true, value } or { ok: false } (never echoes the input).
import { parentPort, workerData } from 'node:worker_threads';
import sodium from 'libsodium-wrappers-sumo';

const { opsLimit, memLimitBytes } = workerData;
const ready = sodium.ready;

function run(msg) {
  const pepper = new Uint8Array(Buffer.from(msg.pepper, 'base64'));
  try {
    if (msg.op === 'hash') return sodium.crypto_pwhash_str(pepper, opsLimit, memLimitBytes);
    if (msg.op === 'verify') {
      // Only our own format; anything else (malformed, other algorithm) is simply "no match".
      if (typeof msg.stored !== 'string' || !msg.stored.startsWith('$argon2id$')) return false;
      try {
        return sodium.crypto_pwhash_str_verify(msg.stored, pepper);
      } catch {
        return false;
      }
    }
    throw new Error('unknown op');
  } finally {
    sodium.memzero(pepper);
  }
}

parentPort.on('message', async (msg) => {
  await ready;
  let reply;
  try {
    reply = { ok: true, value: run(msg) };
  } catch {
    reply = { ok: false };
  }
  parentPort.postMessage(reply);
});
