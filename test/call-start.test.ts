import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';
import type { AuthorizationRequest, CallOutcome } from '../src/payments/ports.js';

const order = (reference: string) => ({
  amount: 15000, currency: 'TWD', reference, description: 'Oyster omelette', return_url: 'https://shop.example/done', login_account: 'alice',
});
let seq = 0;
const idem = () => `call-start-${++seq}-${Math.random()}`;

interface Seen { lease: string | null; dialsBefore: number; firstDial: string | null; dialsAfterFirst: number; secondDial: string | null; dialsAtEnd: number }

describe('the transaction that enters the call step prepares the call (one commit before the INVITE)', () => {
  let w: TestWorld;

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
    await enrolPrepaid(w, 'alice', '1000');
  });
  afterAll(async () => w.close());

  const dials = async (paymentId: string) => (await w.query<{ n: number }>('SELECT COUNT(*) AS n FROM dials WHERE payment_id = ?', [paymentId]))[0]!.n;

  /** What an engine sees when it is asked to call, before it asks to dial; then a first dial and a retry. */
  async function callAndWatch(live: boolean): Promise<Seen> {
    const scripted = w.engine.authorize;
    let seen: Seen | undefined;
    const engine = w.engine as { live: boolean };
    engine.live = live;
    w.engine.authorize = async (req: AuthorizationRequest): Promise<CallOutcome> => {
      const lease = (await w.query<{ call_node: string | null }>('SELECT call_node FROM payments WHERE id = ?', [req.paymentId]))[0]!.call_node;
      const dialsBefore = await dials(req.paymentId);
      const firstDial = await req.mayDial(1);
      const dialsAfterFirst = await dials(req.paymentId);
      const secondDial = await req.mayDial(2);
      seen = { lease, dialsBefore, firstDial, dialsAfterFirst, secondDial, dialsAtEnd: await dials(req.paymentId) };
      return { kind: 'busy' };
    };
    try {
      const r = await w.api('POST', '/v1/payments', { body: order(`start-${seq}`), idem: idem() });
      expect(r.status).toBe(201);
      expect((await finalOf(w, r.body.id)).status).toBe('failed');
    } finally {
      w.engine.authorize = scripted;
      engine.live = false;
    }
    if (!seen) throw new Error('the engine was never asked to call');
    return seen;
  }

  it('a real call: the lease is held and the first dial counted before the engine is reached, and not counted again', async () => {
    const seen = await callAndWatch(true);
    expect(seen.lease).toEqual(expect.any(String));
    expect(seen.dialsBefore).toBe(1);
    expect(seen.firstDial).toBeNull();
    expect(seen.dialsAfterFirst).toBe(1);
    // A retry is still checked and counted in a transaction of its own.
    expect(seen.secondDial).toBeNull();
    expect(seen.dialsAtEnd).toBe(2);
  });

  it('no real call (simulated engine): no dial is counted until the engine asks to dial', async () => {
    const seen = await callAndWatch(false);
    expect(seen.lease).toEqual(expect.any(String));
    expect(seen.dialsBefore).toBe(0);
    expect(seen.firstDial).toBeNull();
    expect(seen.dialsAfterFirst).toBe(1);
    expect(seen.dialsAtEnd).toBe(2);
  });
});
