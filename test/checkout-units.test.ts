import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { esc, html } from '../src/checkout/html.js';
import { formatAmount, formatTimeLeft, negotiate } from '../src/checkout/i18n.js';
import { clientKey } from '../src/checkout/limiter.js';
import { buildPayLink, readPayLink } from '../src/checkout/pay-link.js';
import { signedReturnUrl, verifyReturn } from '../src/checkout/return-url.js';
import { cookieNames, parseCookies, sameText, serializeCookie } from '../src/checkout/tokens.js';

/** A stand-in for the keyring's MAC, holding one key. */
const mac = (purpose: string, value: string) => createHmac('sha256', 'test key').update(`${purpose}\u0000${value}`).digest();
const keyring = { mac, macs: (purpose: string, value: string) => [mac(purpose, value)] };

describe('checkout building blocks', () => {
  it('escapes every interpolation unless it is already HTML', () => {
    expect(esc(`<a href="x" onclick='y'>&\``)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;');
    const name = '<script>alert(1)</script>';
    expect(html`<p title="${name}">${name}${html`<b>${name}</b>`}${[name, html`<i></i>`]}${null}${undefined}${false}${0}</p>`.value)
      .toBe('<p title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>&lt;script&gt;alert(1)&lt;/script&gt;<i></i>0</p>');
  });

  it('formats amounts per locale with the currency\'s ISO exponent, exactly', () => {
    expect(formatAmount(15000, 'TWD', 'en-US')).toBe('NT$150.00');
    expect(formatAmount(15000, 'TWD', 'zh-TW')).toBe('新臺幣 150.00 元');
    expect(formatAmount(123456789, 'TWD', 'zh-TW')).toBe('新臺幣 1,234,567.89 元');
    expect(formatAmount(999_999_999_999, 'USD', 'en-US')).toBe('$9,999,999,999.99');
    expect(formatAmount(1500, 'JPY', 'en-US')).toBe('¥1,500');
    expect(formatAmount(5, 'USD', 'zh-TW')).toBe('美元 0.05');
    expect(formatTimeLeft(600)).toBe('10:00');
    expect(formatTimeLeft(65.9)).toBe('1:05');
    expect(formatTimeLeft(-3)).toBe('0:00');
  });

  it('negotiates the language from Accept-Language by preference', () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'en-US'], ['', 'en-US'], ['*', 'en-US'], ['zh', 'zh-TW'], ['zh-TW', 'zh-TW'], ['zh-Hant-TW', 'zh-TW'], ['zh-hant', 'zh-TW'],
      ['zh-HK', 'zh-TW'], ['zh-CN', 'en-US'], ['zh-Hans', 'en-US'], ['ja, zh-TW;q=0.7', 'zh-TW'], ['en;q=0.5, zh-TW;q=0.9', 'zh-TW'],
      ['zh-TW;q=0, en', 'en-US'], ['de-DE,de;q=0.9', 'en-US'], ['en-GB', 'en-US'], ['zh-twx', 'en-US'],
    ];
    for (const [header, want] of cases) expect(negotiate(header), String(header)).toBe(want);
  });

  it('keys clients by address, IPv6 by /64', () => {
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('unknown');
  });

  it('reads only well-signed pay links', () => {
    const link = new URL(buildPayLink('https://pay.example', keyring, 'mer_1', { amount: 100, currency: 'TWD', reference: 'a&b=c' }));
    const query = Object.fromEntries(link.searchParams);
    expect(readPayLink(keyring, 'mer_1', query)).toEqual({ amount: 100, currency: 'TWD', reference: 'a&b=c', description: undefined });
    expect(readPayLink(keyring, 'mer_2', query), 'another merchant').toBeUndefined();
    expect(readPayLink(keyring, 'mer_1', { ...query, amount: '0100' })).toBeUndefined();
    expect(readPayLink(keyring, 'mer_1', { ...query, amount: ['100', '100'] })).toBeUndefined();
    expect(readPayLink(keyring, 'mer_1', { ...query, lang: 'zh-TW' }), 'unsigned extras are ignored').toBeDefined();
    const open = new URL(buildPayLink('https://pay.example', keyring, 'mer_1', {}));
    expect(open.search).toMatch(/^\?sig=/);
    expect(readPayLink(keyring, 'mer_1', Object.fromEntries(open.searchParams))).toEqual({ amount: undefined, currency: undefined, reference: undefined, description: undefined });
  });

  it('signs the return: merchant parameters kept, ours replaced, verifiable within the window', () => {
    const url = signedReturnUrl('https://shop.example/done?order=42&status=mine#top', 'whsec_x', 'pay_1', 'succeeded', 1_700_000_000);
    expect(url.href).toMatch(/^https:\/\/shop\.example\/done\?order=42&status=succeeded&payment_id=pay_1&t=1700000000&signature=[0-9a-f]{64}#top$/);
    expect(verifyReturn(url.searchParams, ['whsec_old', 'whsec_x'], { now: 1_700_000_100 })).toBe(true);
    expect(verifyReturn(url.searchParams, ['whsec_x'], { now: 1_700_001_000 }), 'too old').toBe(false);
    expect(verifyReturn(url.searchParams, ['whsec_y'], { now: 1_700_000_100 })).toBe(false);
    expect(signedReturnUrl('https://shop.example/?signature=fake', undefined, 'pay_1', 'failed', 1).searchParams.has('signature')).toBe(false);
  });

  it('compares tokens in constant time and parses cookies defensively', () => {
    expect(sameText('abc', 'abc')).toBe(true);
    expect(sameText('abd', 'abc')).toBe(false);
    expect(sameText('ab', 'abc')).toBe(false);
    expect(sameText(undefined, 'abc')).toBe(false);
    expect([...parseCookies('a=1; b = 2;c=x=y; =bad; a=dup')]).toEqual([['a', '1'], ['b', '2'], ['c', 'x=y']]);
    const https = cookieNames('https://pay.carrier.example');
    expect(https).toEqual({ csrf: '__Host-callpay_csrf', lang: '__Host-callpay_lang', secure: true });
    expect(serializeCookie(https.csrf, 'v', { secure: https.secure, sameSite: 'Strict' })).toBe('__Host-callpay_csrf=v; Path=/; HttpOnly; SameSite=Strict; Secure');
    expect(cookieNames('http://127.0.0.1:8080')).toEqual({ csrf: 'callpay_csrf', lang: 'callpay_lang', secure: false });
  });
});
