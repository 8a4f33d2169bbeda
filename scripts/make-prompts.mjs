#!/usr/bin/env node
// Generates the spoken prompt sets prompts/<locale>/ (8 kHz mono 16-bit PCM WAV) and their
// manifest.json from espeak-ng, resampled and trimmed with sox. The WAVs are committed: a running
// callpay needs neither tool. Needs `apt-get install espeak-ng sox` (Debian 12: espeak-ng 1.51,
// sox 14.4.2) only to (re)generate.
//
//   node scripts/make-prompts.mjs                      # both locales, every synthesized clip
//   node scripts/make-prompts.mjs --locale zh-TW       # one locale
//   node scripts/make-prompts.mjs --clip ivr/service-name --locale en-US
//   node scripts/make-prompts.mjs --reset              # forget text edits, use the texts below
//
// Operators: to reword a clip, edit its "text" in prompts/<locale>/manifest.json and run this with
// --clip NAME (the manifest's text wins over the defaults below unless --reset). To use a studio
// recording, put the WAV (8 kHz, mono, 16-bit PCM) in place, point "file" at it and set "source" to
// anything but "espeak-ng" (e.g. "recorded"): this script never overwrites such an entry.
//
// Clip names follow FreeSWITCH's sound tree (digits/…, currency/…), so a FreeSWITCH 8 kHz sound
// pack's digits can be dropped in; ivr/… are callpay's own phrases.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROMPTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'prompts');
const SOURCE = 'espeak-ng';

/**
 * espeak-ng voices. Debian 12's `cmn` voice reads Han characters as pinyin spelled out in English
 * ("xin1" → "zin one"); `cmn-latn-pinyin` reads them (traditional ones too) in Mandarin.
 */
const VOICES = {
  'en-US': { voice: 'en-us', speed: 150 },
  'zh-TW': { voice: 'cmn-latn-pinyin', speed: 140 },
};

/**
 * After synthesis: trim leading and trailing silence (below 0.5 % of full scale), normalise to -3 dBFS,
 * resample to 8 kHz, then end on 40 ms of silence so that concatenated clips keep a short gap.
 * -D: no dither, so the same text gives the same bytes on every run.
 */
const SOX_EFFECTS = ['silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse',
  'gain', '-n', '-3', 'rate', '8000', 'pad', '0', '0.04'];

// name → text, or [text, what espeak-ng is given when it reads the text badly]
const EN = {
  ...Object.fromEntries(
    ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve',
      'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'].map((w, i) => [`digits/${i}`, w]),
  ),
  ...Object.fromEntries(
    ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'].map((w, i) => [`digits/${(i + 2) * 10}`, w]),
  ),
  'digits/hundred': 'hundred',
  'digits/thousand': 'thousand',
  'digits/million': 'million',
  'digits/billion': 'billion',
  'digits/trillion': 'trillion',
  'currency/and': 'and',
  'currency/dollar': 'dollar',
  'currency/dollars': 'dollars',
  'currency/cent': 'cent',
  'currency/cents': 'cents',
  'currency/new-taiwan-dollar': 'New Taiwan dollar',
  'currency/new-taiwan-dollars': 'New Taiwan dollars',
  'currency/hong-kong-dollar': 'Hong Kong dollar',
  'currency/hong-kong-dollars': 'Hong Kong dollars',
  'currency/euro': 'euro',
  'currency/euros': 'euros',
  'currency/pound': 'pound',
  'currency/pounds': 'pounds',
  'currency/penny': 'penny',
  'currency/pence': 'pence',
  'currency/yuan': 'yuan',
  'currency/fen': 'fen',
  'currency/yen': 'yen',
  'ivr/this-is': 'This is',
  'ivr/service-name': 'the callpay payment service.',
  'ivr/a-merchant': 'A merchant',
  'ivr/requests-payment-of': 'requests a payment of',
  'ivr/fraud-hint': 'If you did not start this payment, press 0.',
  'ivr/fraud-reported': 'Thank you. This payment is declined and has been reported.',
  // espeak-ng spells "PIN" letter by letter
  'ivr/enter-pin': ['Please enter your PIN, then the pound key. To decline, press star.',
    'Please enter your pin, then the pound key. To decline, press star.'],
  'ivr/approved': 'Payment approved.',
  'ivr/wrong-pin': ['That PIN is not correct. Please try again.', 'That pin is not correct. Please try again.'],
  'ivr/declined': 'Payment declined.',
  'ivr/no-input': 'We did not receive your input.',
  'ivr/goodbye': 'Goodbye.',
  // Self-service by calling in (src/ivr/self/clips.ts); "PIN" spelt "pin" for espeak-ng.
  'self/enter-pin': ['Please enter your PIN, then the pound key.', 'Please enter your pin, then the pound key.'],
  'self/unavailable': 'Sorry, this service is not available for this call. Goodbye.',
  'self/menu': ['To hear your recent payments, press 1. To change your PIN, press 2. To lower your limits, press 3. To lock or unlock payments, press 4. To end the call, press 9.',
    'To hear your recent payments, press 1. To change your pin, press 2. To lower your limits, press 3. To lock or unlock payments, press 4. To end the call, press 9.'],
  'self/no-payments': 'You have no recent payments.',
  'self/on': 'on',
  'self/new-pin': ['Enter your new PIN, 4 to 8 digits, then the pound key.', 'Enter your new pin, 4 to 8 digits, then the pound key.'],
  'self/repeat-pin': ['Enter the new PIN again, then the pound key.', 'Enter the new pin again, then the pound key.'],
  'self/pin-mismatch': ['The two entries do not match. Your PIN is unchanged.', 'The two entries do not match. Your pin is unchanged.'],
  'self/pin-same': ['The new PIN must differ from the old one. Your PIN is unchanged.', 'The new pin must differ from the old one. Your pin is unchanged.'],
  'self/pin-invalid': ['A PIN has 4 to 8 digits. Your PIN is unchanged.', 'A pin has 4 to 8 digits. Your pin is unchanged.'],
  'self/pin-changed': ['Your PIN has been changed.', 'Your pin has been changed.'],
  'self/limits-menu': 'To lower the amount above which we call you, press 1. To turn off payments without a call, press 3.',
  'self/limits-password': 'To lower the amount above which we ask for your password, press 2.',
  'self/enter-amount': 'Enter the new amount in whole units, then the pound key.',
  'self/not-lower': 'Limits can only be lowered by phone. Nothing was changed.',
  'self/limit-changed': 'Your limit has been lowered.',
  'self/frictionless-off': 'Payments without a call are turned off.',
  'self/lock-offer': 'To lock all payments, press 1.',
  'self/locked': 'Payments are locked. To unlock them, call this service again.',
  'self/unlock-offer': 'Your payments are locked. To unlock them, press 1.',
  'self/unlocked': 'Payments are unlocked.',
  'self/invalid-choice': 'That is not a valid choice.',
  'self/month-1': 'January',
  'self/month-2': 'February',
  'self/month-3': 'March',
  'self/month-4': 'April',
  'self/month-5': 'May',
  'self/month-6': 'June',
  'self/month-7': 'July',
  'self/month-8': 'August',
  'self/month-9': 'September',
  'self/month-10': 'October',
  'self/month-11': 'November',
  'self/month-12': 'December',
};

const ZH = {
  ...Object.fromEntries(['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'].map((w, i) => [`digits/${i}`, w])),
  'digits/liang': '兩',
  'digits/10': '十',
  'digits/100': '百',
  'digits/1000': '千',
  'digits/10000': '萬',
  'digits/100000000': '億',
  'digits/1000000000000': '兆',
  'currency/twd': '新臺幣',
  'currency/cny': '人民幣',
  'currency/hkd': '港幣',
  'currency/yuan': '元',
  'currency/jiao': '角',
  'currency/fen': '分',
  'currency/usd': '美元',
  'currency/usd-cent': '美分',
  'currency/eur': '歐元',
  'currency/eur-cent': '歐分',
  'currency/gbp': '英鎊',
  'currency/gbp-penny': '便士',
  'currency/jpy': '日圓',
  'ivr/this-is': '這裡是',
  'ivr/service-name': 'callpay 付款服務。',
  'ivr/a-merchant': '商家',
  'ivr/requests-payment-of': '向您請求付款，金額為',
  'ivr/fraud-hint': '如果這筆付款不是您發起的，請按零。',
  'ivr/fraud-reported': '謝謝您。這筆付款已拒絕，並已通報。',
  'ivr/enter-pin': '請輸入您的密碼，再按井字鍵。若要拒絕付款，請按星號鍵。',
  'ivr/approved': '付款已核准。',
  'ivr/wrong-pin': '密碼不正確，請再試一次。',
  'ivr/declined': '付款已拒絕。',
  'ivr/no-input': '我們沒有收到您的輸入。',
  'ivr/goodbye': '再見。',
  'self/enter-pin': '請輸入您的密碼，再按井字鍵。',
  'self/unavailable': '抱歉，這通電話無法使用本服務。再見。',
  'self/menu': '查詢最近的付款，請按1。變更密碼，請按2。降低您的額度，請按3。鎖定或解除鎖定付款，請按4。結束通話，請按9。',
  'self/no-payments': '您最近沒有付款。',
  'self/on': '日期',
  'self/new-pin': '請輸入新的密碼，4到8位數字，再按井字鍵。',
  'self/repeat-pin': '請再輸入一次新的密碼，再按井字鍵。',
  'self/pin-mismatch': '兩次輸入不相同，密碼沒有變更。',
  'self/pin-same': '新密碼必須與舊密碼不同，密碼沒有變更。',
  'self/pin-invalid': '密碼是4到8位數字，密碼沒有變更。',
  'self/pin-changed': '您的密碼已變更。',
  'self/limits-menu': '降低需要來電確認的金額，請按1。關閉免來電付款，請按3。',
  'self/limits-password': '降低需要輸入密碼的金額，請按2。',
  'self/enter-amount': '請輸入新的金額，以元為單位，再按井字鍵。',
  'self/not-lower': '電話中只能降低額度，沒有任何變更。',
  'self/limit-changed': '您的額度已降低。',
  'self/frictionless-off': '免來電付款已關閉。',
  'self/lock-offer': '鎖定所有付款，請按1。',
  'self/locked': '付款已鎖定。若要解除鎖定，請再撥打本服務。',
  'self/unlock-offer': '您的付款已鎖定。解除鎖定，請按1。',
  'self/unlocked': '付款已解除鎖定。',
  'self/invalid-choice': '這不是有效的選項。',
  'self/month': '月',
  'self/day': '日',
};

const DEFAULTS = { 'en-US': EN, 'zh-TW': ZH };

function parseArgs(argv) {
  const opts = { locales: [], clips: [], reset: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--locale') opts.locales.push(value());
    else if (arg === '--clip') opts.clips.push(value());
    else if (arg === '--reset') opts.reset = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (opts.locales.length === 0) opts.locales = Object.keys(DEFAULTS);
  for (const l of opts.locales) if (!(l in DEFAULTS)) throw new Error(`unknown locale ${l}`);
  return opts;
}

function tool(name) {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(`${name} is needed to generate prompts: apt-get install -y espeak-ng sox`);
  }
}

function synthesize(text, { voice, speed }, outFile, tmp) {
  const raw = join(tmp, 'raw.wav');
  execFileSync('espeak-ng', ['-v', voice, '-s', String(speed), '-w', raw, text], { timeout: 30_000 });
  mkdirSync(dirname(outFile), { recursive: true });
  execFileSync('sox', ['-D', raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', outFile, ...SOX_EFFECTS],
    { timeout: 30_000 });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  tool('espeak-ng');
  tool('sox');
  const tmp = mkdtempSync(join(tmpdir(), 'callpay-prompts-'));
  try {
    for (const locale of opts.locales) {
      const dir = join(PROMPTS, locale);
      const manifestFile = join(dir, 'manifest.json');
      const old = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')).clips ?? {} : {};
      const clips = { ...old };
      for (const [name, spec] of Object.entries(DEFAULTS[locale])) {
        const [defaultText, defaultSay] = Array.isArray(spec) ? spec : [spec, undefined];
        const prev = old[name];
        if (prev && prev.source !== SOURCE) continue; // an operator's recording
        if (opts.clips.length > 0 && !opts.clips.includes(name)) continue;
        const edited = !opts.reset && prev !== undefined && prev.text !== defaultText;
        const text = edited ? prev.text : defaultText;
        const say = edited ? (prev.say !== defaultSay ? prev.say : undefined) : defaultSay;
        const file = prev?.file ?? `${name}.wav`;
        synthesize(say ?? text, VOICES[locale], join(dir, file), tmp);
        clips[name] = { file, text, ...(say ? { say } : {}), source: SOURCE };
        process.stdout.write(`${locale} ${name}: ${text}\n`);
      }
      const sorted = Object.fromEntries(Object.keys(clips).sort().map((k) => [k, clips[k]]));
      const manifest = {
        locale,
        format: 'WAV, PCM, 8000 Hz, mono, 16-bit',
        generator: `scripts/make-prompts.mjs (espeak-ng voice ${VOICES[locale].voice}, sox)`,
        clips: sorted,
      };
      writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
      const bytes = Object.values(sorted).reduce((n, c) => n + statSync(join(dir, c.file)).size, 0);
      process.stdout.write(`${locale}: ${Object.keys(sorted).length} clips, ${(bytes / 1024).toFixed(0)} KiB\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
