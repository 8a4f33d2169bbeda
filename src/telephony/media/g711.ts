/**
 * ITU-T G.711 μ-law and A-law, following the ITU-T G.191 reference (ulaw_compress/alaw_compress):
 * negative samples use the one's complement, so -1..-4 encode to μ-law "negative zero" (0x7F) as the
 * ITU code does (Sun's widely copied g711.c differs there by one step). Decoding goes through
 * 256-entry tables built once; encoding is arithmetic (it runs once per clip, then is cached).
 */
export type Codec = 'PCMU' | 'PCMA';

/** The static RTP payload types of RFC 3551. */
export const STATIC_PAYLOAD_TYPE: Readonly<Record<Codec, number>> = { PCMU: 0, PCMA: 8 };

/** The byte that decodes to (near) zero: what silence and the padding of a final frame are made of. */
export const SILENCE_BYTE: Readonly<Record<Codec, number>> = { PCMU: 0xff, PCMA: 0xd5 };

export function linearToUlaw(sample: number): number {
  const x = clamp16(sample);
  let absno = x < 0 ? (~x >> 2) + 33 : (x >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let segno = 1;
  for (let i = absno >> 6; i !== 0; i >>= 1) segno++;
  const high = 8 - segno;
  const low = 0x0f - ((absno >> segno) & 0x0f);
  const y = (high << 4) | low;
  return x >= 0 ? y | 0x80 : y;
}

function ulawToLinearArith(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const inv = ~code & 0xff;
  const exponent = (inv >> 4) & 0x07;
  const mantissa = inv & 0x0f;
  const step = 4 << (exponent + 1);
  const magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
  return sign * magnitude || 0; // `|| 0` turns μ-law's negative zero into 0
}

export function linearToAlaw(sample: number): number {
  const x = clamp16(sample);
  let ix = x < 0 ? ~x >> 4 : x >> 4;
  if (ix > 15) {
    let exp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      exp++;
    }
    ix = ix - 16 + (exp << 4);
  }
  if (x >= 0) ix |= 0x80;
  return ix ^ 0x55;
}

function alawToLinearArith(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const exp = ix >> 4;
  let mant = ix & 0x0f;
  if (exp > 0) mant += 16;
  mant = (mant << 4) + 8;
  if (exp > 1) mant <<= exp - 1;
  return (code ^ 0x55) > 127 ? mant : -mant;
}

const ULAW_TABLE = Int16Array.from({ length: 256 }, (_, c) => ulawToLinearArith(c));
const ALAW_TABLE = Int16Array.from({ length: 256 }, (_, c) => alawToLinearArith(c));

export function ulawToLinear(code: number): number {
  return ULAW_TABLE[code & 0xff]!;
}

export function alawToLinear(code: number): number {
  return ALAW_TABLE[code & 0xff]!;
}

/** Encodes 16-bit linear PCM into `out` (a new array when omitted). */
export function encode(codec: Codec, samples: Int16Array, out: Uint8Array<ArrayBufferLike> = new Uint8Array(samples.length)): Uint8Array<ArrayBufferLike> {
  const f = codec === 'PCMU' ? linearToUlaw : linearToAlaw;
  for (let i = 0; i < samples.length; i++) out[i] = f(samples[i]!);
  return out;
}

/** Decodes G.711 into 16-bit linear PCM in `out` (a new array when omitted; at least as long as `bytes`). */
export function decode(codec: Codec, bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  const table = codec === 'PCMU' ? ULAW_TABLE : ALAW_TABLE;
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
  return out.length === bytes.length ? out : out.subarray(0, bytes.length);
}

/** G.711 bytes of one law re-encoded in the other (a re-INVITE may switch codecs mid-prompt). */
export function transcode(from: Codec, to: Codec, bytes: Uint8Array): Uint8Array {
  if (from === to) return bytes;
  return encode(to, decode(from, bytes));
}

function clamp16(v: number): number {
  const n = Math.trunc(v);
  return n > 32767 ? 32767 : n < -32768 ? -32768 : n;
}
