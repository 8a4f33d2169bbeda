/** Locales that have a prompt set and spoken amounts. */
export const PROMPT_LOCALES = ['en-US', 'zh-TW'] as const;
export type PromptLocale = (typeof PROMPT_LOCALES)[number];

export function isPromptLocale(value: string): value is PromptLocale {
  return (PROMPT_LOCALES as readonly string[]).includes(value);
}
