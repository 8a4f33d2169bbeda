import { isIP, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { fail, pass, warn, type CheckResult } from './doctor.js';

const DAY_MS = 86_400_000;

/**
 * Opt-in (`doctor --webhooks`): can callpay reach each merchant's webhook URL, and does an https one
 * show a certificate this host trusts, for its name, not about to expire? Connects only: nothing is
 * POSTed, so a merchant sees no stray event.
 */
export async function probeWebhook(url: string, timeoutMs: number, now: Date): Promise<CheckResult> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('webhook', `${url}: not a URL`);
  }
  const name = `webhook ${u.origin}`;
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise<CheckResult>((resolve) => {
    let settled = false;
    const done = (r: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...r, check: 'webhook' });
    };
    const secure = u.protocol === 'https:';
    const socket = secure
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), timeout: timeoutMs }, () => {
          const cert: PeerCertificate = (socket as ReturnType<typeof tlsConnect>).getPeerCertificate();
          const daysLeft = Math.floor((Date.parse(cert.valid_to) - now.getTime()) / DAY_MS);
          done(daysLeft < 14
            ? warn(name, `${name}: TLS ok, but the certificate expires in ${daysLeft} days`)
            : pass(name, `${name}: TLS ok, certificate valid ${daysLeft} more days`));
        })
      : tcpConnect({ host, port }, () => done(warn(name, `${name}: reachable, but plain http: events travel unencrypted`)));
    socket.on('error', (e: NodeJS.ErrnoException) => done(fail(name, `${name}: ${e.code ?? ''} ${e.message}`.trim())));
    const timer = setTimeout(() => done(fail(name, `${name}: no connection within ${timeoutMs} ms`)), timeoutMs);
  });
}
