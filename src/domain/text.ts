import { invalidField } from './errors.js';

/**
 * The one rule for text that callpay takes in: merchant API fields, checkout forms, pay links and
 * operators' CLI arguments. Refused anywhere in the text:
 *   - control characters, Unicode general category Cc: C0 (U+0000–U+001F, tab and newlines
 *     included), DEL (U+007F) and C1 (U+0080–U+009F, e.g. U+0085 NEL, U+009B CSI);
 *   - bidirectional formatting characters, Unicode property Bidi_Control: the embeddings and
 *     overrides U+202A–U+202E, the isolates U+2066–U+2069, and the implicit marks U+200E LRM,
 *     U+200F RLM and U+061C ALM;
 *   - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR;
 *   - lone surrogates (text that is not well-formed UTF-16 cannot be stored as UTF-8 faithfully).
 * They are invisible or change what is shown: "ORD-\u202E1-4" reads otherwise on the checkout page
 * than in the database, and NEL or U+2028 break lines in logs, CSV exports and terminals. The
 * implicit marks are refused too: callpay's locales (en-US, zh-TW) never need them, and they
 * reorder neighbouring digits and punctuation as well as the overrides do. Zero-width joiners
 * (emoji, some scripts) and ordinary non-ASCII text stay allowed.
 */
const REFUSED = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]|\p{Cs}/u;

/** "U+202E" for the first refused character of `text`, or undefined when the text is allowed. */
export function refusedCharacter(text: string): string | undefined {
  const found = REFUSED.exec(text)?.[0];
  return found === undefined ? undefined : `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

export function isAllowedText(text: string): boolean {
  return !REFUSED.test(text);
}

/** Why `text` is refused (never echoing the character itself), or undefined when it is allowed. */
export function textProblem(text: string): string | undefined {
  const found = refusedCharacter(text);
  return found === undefined ? undefined : `control and text-direction characters are not allowed (found ${found})`;
}

/** Returns `text` unchanged when allowed; else throws invalid_field naming `field`. */
export function checkText(field: string, text: string): string {
  const problem = textProblem(text);
  if (problem !== undefined) throw invalidField(field, problem);
  return text;
}

/** For text callpay only shows (a peer's error reply): each run of refused characters becomes one space. */
export function replaceRefused(text: string): string {
  return text.replace(new RegExp(`(?:${REFUSED.source})+`, 'gu'), ' ');
}
