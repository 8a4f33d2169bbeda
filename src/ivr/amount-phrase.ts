import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locale } from '../domain/locale.js';
import { checkPromptWav } from './prompts.js';
import { sayAmount, speechOf } from './say/index.js';

/**
 * Amounts spoken as one synthesized phrase, for locales whose speech reads amounts that way
 * (LocaleSpeech.amountPhrase: zh-TW, with tone sandhi). Rendered while the phone rings (the
 * authorizer never waits for it: not ready at the answer = clip by clip) and cached by what is said; the same amount in the
 * same currency is rendered once per appliance. When espeak-ng or sox is missing, or synthesis fails,
 * render() gives null and the call says the amount clip by clip as before.
 */
export interface AmountPhrases {
  /** The phrase's 8 kHz mono 16-bit WAV, or null: say it clip by clip. */
  render(minor: number, currency: string, locale: Locale): Promise<string | null>;
}

export interface AmountPhraseOptions {
  /** Where rendered phrases are kept (created when missing). */
  cacheDir: string;
  espeakBin?: string;
  soxBin?: string;
  /** Per tool run; default 10 s. */
  timeoutMs?: number;
  /** Told once when the tools are missing or a rendering fails (the call goes on clip by clip). */
  onFallback?(reason: string): void;
}

/** As scripts/make-prompts.mjs: trim silence, -3 dBFS peak, 8 kHz, a 40 ms tail; -D: no dither. */
const SOX_EFFECTS = ['silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse',
  'gain', '-n', '-3', 'rate', '8000', 'pad', '0', '0.04'];
/** Bumped when the rendering changes, so cached phrases are made again. */
const RENDERING = 'v1';

export function createAmountPhrases(o: AmountPhraseOptions): AmountPhrases {
  const inFlight = new Map<string, Promise<string | null>>();
  let toolsMissing = false;
  const timeout = o.timeoutMs ?? 10_000;

  async function make(text: string, voice: string, target: string): Promise<string | null> {
    if (await exists(target)) return target;
    await mkdir(o.cacheDir, { recursive: true });
    const tmp = await mkdtemp(join(o.cacheDir, '.render-'));
    try {
      const raw = join(tmp, 'raw.wav');
      const textFile = join(tmp, 'say.txt'); // through a file: never an option-looking argv
      await writeFile(textFile, text, 'utf8');
      if (!(await run(o.espeakBin ?? 'espeak-ng', ['-v', voice, '-s', '140', '-f', textFile, '-w', raw], timeout))) return missing('espeak-ng');
      const clip = join(tmp, 'phrase.wav');
      const soxArgs = ['-D', raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', clip, ...SOX_EFFECTS];
      if (!(await run(o.soxBin ?? 'sox', soxArgs, timeout))) return missing('sox');
      const problem = await checkPromptWav(clip);
      if (problem) throw new Error(`rendered amount phrase is not a usable clip: ${problem.reason}`);
      await rename(clip, target); // whole or not at all, whoever renders the same phrase at once
      return target;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  function missing(tool: string): null {
    toolsMissing = true;
    o.onFallback?.(`${tool} is not installed: amounts are said clip by clip`);
    return null;
  }

  return {
    async render(minor, currency, locale) {
      const speech = speechOf(locale);
      if (!speech.amountPhrase || toolsMissing) return null;
      let text: string;
      try {
        text = speech.amountPhrase(sayAmount(minor, currency, locale));
      } catch {
        return null; // an amount the locale cannot read: the call script reports it as before
      }
      const key = createHash('sha256').update(`${RENDERING}\0${speech.espeakVoice}\0${text}`).digest('hex').slice(0, 32);
      const target = join(o.cacheDir, `${locale}-${key}.wav`);
      let pending = inFlight.get(target);
      if (!pending) {
        pending = make(text, speech.espeakVoice, target)
          .catch((e: unknown) => {
            o.onFallback?.(`amount phrase not rendered (${(e as Error).message}): said clip by clip`);
            return null;
          })
          .finally(() => inFlight.delete(target));
        inFlight.set(target, pending);
      }
      return pending;
    },
  };
}

/** Runs a tool; false when it is not installed, rejects when it fails or times out. */
function run(bin: string, args: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    execFile(bin, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise(true);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolvePromise(false);
      const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed: ${String(stderr).trim().split('\n').at(-1) ?? err.message}`;
      reject(new Error(`${bin} ${why}`));
    });
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
