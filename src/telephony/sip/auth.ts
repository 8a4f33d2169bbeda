import { authorizationHeader, newCnonce, parseChallenge, type DigestChallenge, type DigestCredentials } from './digest.js';
import { getHeaders, type IncomingResponse } from './message.js';

/**
 * Answers a 401/407 (RFC 3261 §22.2, §22.3): one credential per realm challenged, in the header
 * that matches the challenge (WWW-Authenticate → Authorization, Proxy-Authenticate →
 * Proxy-Authorization). Nonce counts are kept per call so a reused nonce gets nc=2, 3, ...
 */
export class DigestAnswerer {
  private readonly counts = new Map<string, number>();

  constructor(private readonly credentials: DigestCredentials) {}

  /** Header pairs to add to the retried request, or null if nothing in the response can be answered. */
  answer(res: IncomingResponse, method: string, uri: string): { headers: Array<[string, string]>; stale: boolean } | null {
    const [challengeName, answerName] =
      res.status === 407 ? ['proxy-authenticate', 'proxy-authorization'] : ['www-authenticate', 'authorization'];
    const byRealm = new Map<string, DigestChallenge>();
    for (const value of getHeaders(res, challengeName)) {
      const c = parseChallenge(value);
      if (c && !byRealm.has(c.realm)) byRealm.set(c.realm, c);
    }
    if (byRealm.size === 0) return null;
    const headers: Array<[string, string]> = [];
    let stale = false;
    for (const challenge of byRealm.values()) {
      const nc = (this.counts.get(challenge.nonce) ?? 0) + 1;
      this.counts.set(challenge.nonce, nc);
      stale ||= challenge.stale;
      headers.push([answerName, authorizationHeader({ challenge, credentials: this.credentials, method, uri, nc, cnonce: newCnonce() })]);
    }
    return { headers, stale };
  }
}
