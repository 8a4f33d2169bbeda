import type { Logger } from '../../log.js';
import { ALLOW, contactHeader, localFor, newBranch, newCallId, newTag, viaHeader, type SipCore } from './core.js';
import { formatHostPort, maskUri, parseUri, type HostPort } from './headers.js';
import { headerList, type SipRequest } from './message.js';
import { targetFromUri, type SipTarget } from './target.js';

export type OptionsResult =
  | { kind: 'answered'; status: number; reason: string; hop: HostPort }
  | { kind: 'unreachable'; reason: string; tried: HostPort[] };

export interface OptionsContext {
  core: SipCore;
  outboundProxy: SipTarget | null;
  locate(target: SipTarget, log: Logger): Promise<HostPort[]>;
  log: Logger;
}

/**
 * An out-of-dialog OPTIONS (RFC 3261 §11) to where INVITEs for `requestUri` would go: the outbound
 * proxy, else the URI's host, each resolved hop in turn. Any final response, even 4xx/5xx, proves the
 * path carries SIP both ways; only silence or a transport failure makes a hop unreachable. For
 * `callpay doctor` and operators' checks: no call, no number (the URI's user part is not sent).
 */
export async function sendOptions(ctx: OptionsContext, requestUri: string, timeoutMs: number): Promise<OptionsResult> {
  const uri = parseUri(requestUri);
  const target = ctx.outboundProxy ?? (uri ? targetFromUri(uri) : null);
  if (!target) return { kind: 'unreachable', reason: `no SIP target in ${maskUri(requestUri)}`, tried: [] };
  const hops = await ctx.locate(target, ctx.log);
  if (hops.length === 0) return { kind: 'unreachable', reason: `${target.host} does not resolve`, tried: [] };
  const tried: HostPort[] = [];
  let last = 'no response';
  for (const hop of hops) {
    tried.push(hop);
    const transport = hop.transport ?? 'udp';
    const local = localFor(ctx.core, transport);
    const host = hop.host.includes(':') ? `[${hop.host}]` : hop.host;
    const to = `${transport === 'tls' ? 'sips' : 'sip'}:${host}:${hop.port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
    const request: SipRequest = {
      type: 'request',
      method: 'OPTIONS',
      uri: to,
      headers: headerList([
        ['via', viaHeader(local, newBranch(), transport)],
        ['max-forwards', '70'],
        ['from', `<${contactHeader(local, transport).slice(1, -1)}>;tag=${newTag()}`],
        ['to', `<${to}>`],
        ['call-id', newCallId()],
        ['cseq', '1 OPTIONS'],
        ['contact', contactHeader(local, transport)],
        ['accept', 'application/sdp'],
        ['allow', ALLOW],
        ['user-agent', ctx.core.userAgent],
      ]),
      body: '',
    };
    let timer: NodeJS.Timeout | undefined;
    const response = await Promise.race([
      ctx.core.client.nonInvite(request, hop),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (response) return { kind: 'answered', status: response.status, reason: response.reason, hop };
    last = `no response from ${formatHostPort(hop)} (${transport}) within ${timeoutMs} ms`;
  }
  return { kind: 'unreachable', reason: last, tried };
}
