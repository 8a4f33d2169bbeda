import type { Locale } from '../../domain/locale.js';
import { enUS } from './en-us.js';
import type { LocaleSpeech } from './speech.js';
import { zhTW } from './zh-tw.js';

/** Each locale's speech: the one table the call script, prompt checks and synthesis look locales up in. */
export const SPEECH: Readonly<Record<Locale, LocaleSpeech>> = {
  'en-US': enUS,
  'zh-TW': zhTW,
};

/** `locale`'s speech; throws for a value that is not a Locale (a caller outside the type system). */
export function speechOf(locale: Locale): LocaleSpeech {
  const speech = Object.hasOwn(SPEECH, locale) ? SPEECH[locale] : undefined;
  if (!speech) throw new Error(`no speech for locale ${String(locale)}`);
  return speech;
}
