import { describe, expect, it } from 'vitest';
import { checkText, isAllowedText, refusedCharacter, replaceRefused } from '../src/domain/text.js';
import { CallpayError } from '../src/domain/errors.js';
import { parseAddress, parsePassword } from '../src/domain/consumer.js';
import { parseDisplayName, parseWebhookUrl } from '../src/domain/merchant.js';
import { checkPayLinkParams } from '../src/checkout/pay-link.js';

const codePoints = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i));

/** The one text rule (src/domain/text.ts) and the domain parsers that use it. */
describe('allowed text', () => {
  const refused = [
    ...codePoints(0x00, 0x1f), '\u007f', ...codePoints(0x80, 0x9f), // Cc: C0, DEL, C1
    ...codePoints(0x202a, 0x202e), ...codePoints(0x2066, 0x2069), '\u200e', '\u200f', '\u061c', // Bidi_Control
    '\u2028', '\u2029', '\ud800', '\udfff', // separators, lone surrogates
  ];
  const allowed = [' ', 'a', 'é', '\u00a0', '中', '新臺幣', '\u200b', '\u200d', '👍🏽', '👨‍👩‍👧', 'עברית', 'العربية', '#', '&<>"\''];

  it.each(refused.map((ch) => [`U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`, ch]))('refuses %s anywhere in the text', (name, ch) => {
    for (const text of [ch, `a${ch}`, `${ch}b`, `a${ch}b`]) {
      expect(isAllowedText(text)).toBe(false);
      expect(refusedCharacter(text)).toBe(name);
    }
    let caught: unknown;
    try {
      checkText('reference', `ORD${ch}1`);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CallpayError);
    expect((caught as CallpayError).code).toBe('invalid_field');
    expect((caught as CallpayError).field).toBe('reference');
    expect((caught as CallpayError).message).toContain(name);
    expect((caught as CallpayError).message).not.toContain(ch);
  });

  it('allows ordinary text in any script, emoji sequences and zero-width joiners', () => {
    for (const text of allowed) expect(isAllowedText(text), JSON.stringify(text)).toBe(true);
    expect(checkText('description', 'Oyster omelette 蚵仔煎')).toBe('Oyster omelette 蚵仔煎');
  });

  it('replaces runs of refused characters for text that is only shown', () => {
    expect(replaceRefused('bad\r\n\u0085gateway\u202e!')).toBe('bad gateway !');
  });

  it('is the rule of every domain parser of free text and of pay links', () => {
    expect(() => parseDisplayName('Stall\u202e12')).toThrow(CallpayError);
    expect(() => parseDisplayName('Stall\u0085')).toThrow(CallpayError);
    expect(() => parseAddress('No. 7\u2028Road')).toThrow(CallpayError);
    expect(() => parsePassword('correct\u009bhorse')).toThrow(CallpayError);
    expect(() => parseWebhookUrl('https://shop.example/\u202e')).toThrow(CallpayError);
    expect(() => checkPayLinkParams({ reference: 'T\u2066 7' })).toThrow(CallpayError);
    expect(parseDisplayName('  夜市 12 號攤  ')).toBe('夜市 12 號攤');
  });
});
