/**
 * Misuse and resource errors of the media layer. Expected call outcomes (a digit, a hang-up, a
 * finished prompt) are values; a MediaError means the request cannot be carried out. The SIP engine
 * turns these into call outcomes (`failed` with a reason) at its boundary.
 */
export const MEDIA_ERROR_CODES = [
  /** A prompt file that is not 8 kHz mono 16-bit PCM WAV, or is truncated. */
  'clip_invalid',
  /** A prompt file that cannot be read. */
  'clip_unreadable',
  /** No even port in [portMin, portMax] could be bound. */
  'ports_exhausted',
  /** Bad engine options (port range, bind host). */
  'config_invalid',
  /** A call in the wrong state (play before start, two collects at once, bad collect options). */
  'invalid_state',
  /** The media worker died or the engine is closed. */
  'engine_unavailable',
] as const;

export type MediaErrorCode = (typeof MEDIA_ERROR_CODES)[number];

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  /** The prompt file at fault, when there is one. */
  readonly file: string | undefined;

  constructor(code: MediaErrorCode, message: string, file?: string) {
    super(message);
    this.name = 'MediaError';
    this.code = code;
    this.file = file;
  }
}
