import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startCallingWorld, type TestWorld } from './daemon.js';
import { writeDtmfPcap } from './pcap.js';
import type { WorldStore } from './pg-world.js';
import { startSipp, type Sipp, type StartSippOptions } from './sipp.js';

export interface CallingScene {
  /** `serve`'s daemon with the embedded engine, calling `phone`: `env` over the scene's. Closes the previous world. */
  world(phone: Sipp, env?: Record<string, string>): Promise<TestWorld>;
  /** sipp as the consumer's phone. */
  phone(options: StartSippOptions): Promise<Sipp>;
  /** A phone that keys `digits` as RFC 4733 events, 150 ms apart, `leadMs` (default 1500) after it answers. */
  keyingPhone(digits: string, options?: { leadMs?: number } & Partial<StartSippOptions>): Promise<Sipp>;
  /** Runs after the test, once the world is closed and the phones are stopped. */
  onCleanup(cleanup: () => Promise<void> | void): void;
}

/**
 * The end-to-end call tests' setup (call inside `describe`): worlds on `store` with the settings
 * `env`, sipp phones, and an afterEach that closes the world, stops every phone by PID and then runs
 * the test's cleanups.
 */
export function useCallingScene(store: WorldStore, env: Record<string, string>): CallingScene {
  let current: TestWorld | undefined;
  const phones: Sipp[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  afterEach(async () => {
    await current?.close();
    current = undefined;
    for (const p of phones.splice(0)) await p.stop();
    for (const c of cleanups.splice(0)) await c();
  });

  const startPhone = async (options: StartSippOptions) => {
    const sipp = await startSipp(options);
    phones.push(sipp);
    return sipp;
  };

  return {
    async world(phone, extra = {}) {
      await current?.close();
      current = undefined;
      current = await startCallingWorld(phone.port, { ...env, ...extra }, { store });
      return current;
    },
    phone: startPhone,
    async keyingPhone(digits, { leadMs = 1500, ...sipp } = {}) {
      const pcap = join(tmpdir(), `callpay-keys-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.pcap`);
      cleanups.push(() => rmSync(pcap, { force: true }));
      writeDtmfPcap(pcap, { digits, leadMs, silencePayloadType: 0, gapMs: 150 });
      return startPhone({ scenario: 'answer-dtmf', timeoutMs: 40_000, ...sipp, pcap });
    },
    onCleanup: (cleanup) => void cleanups.push(cleanup),
  };
}
