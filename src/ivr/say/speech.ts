/** An amount split by its currency's ISO 4217 exponent: 1205.07 USD → major 1205, fraction 7, scale 100. */
export interface SplitAmount {
  major: number;
  fraction: number;
  /** 10 ** exponent: 100 for USD, 1 for JPY. */
  scale: number;
  currency: string;
}

/**
 * What a locale brings to the call script: how it reads numbers and amounts as clip names, the way
 * FreeSWITCH's mod_say_<lang> does (pure, no I/O), and the voice that synthesizes its clips. The
 * clips themselves are files in prompts/<locale>/ (scripts/make-prompts.mjs).
 */
export interface LocaleSpeech {
  /** A cardinal number as clip names. */
  sayNumber(n: number): string[];
  /** An amount as clip names. Throws Error for a currency it has no words for. */
  sayAmount(amount: SplitAmount): string[];
  /** Currencies sayAmount can read. */
  currencies(): string[];
  /** Every clip sayNumber and sayAmount can return, for any currency it knows. */
  amountClips(): string[];
  /** espeak-ng voice for clips made at enrolment (merchant names); scripts/make-prompts.mjs uses the same. */
  espeakVoice: string;
  /**
   * What espeakVoice is given to say sayAmount's clips as one phrase (zh-TW: tone-numbered pinyin with
   * tone sandhi), for locales where clip by clip sounds wrong; absent = clip by clip.
   */
  amountPhrase?(clips: readonly string[]): string;
}
