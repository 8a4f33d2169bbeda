import { exponentOf } from '../domain/money.js';
import type { FailureCode, PaymentStatus } from '../domain/payment.js';

export const LANGS = ['en-US', 'zh-TW'] as const;
export type Lang = (typeof LANGS)[number];

/** Each language's own name, shown in the switcher whatever the page's language. */
export const LANG_NAMES: Record<Lang, string> = { 'en-US': 'English', 'zh-TW': '繁體中文' };

export type ResultStatus = Exclude<PaymentStatus, 'requires_consumer' | 'requires_password' | 'calling'>;

/** Every text the checkout pages show. `{name}` placeholders are filled (then escaped) when rendered. */
export interface Strings {
  languageNav: string;
  paymentSummary: string;
  amountLabel: string;
  referenceLabel: string;
  descriptionLabel: string;
  expiresLabel: string;
  loginHeading: string;
  loginLabel: string;
  loginHint: string;
  loginFailed: string;
  passwordHeading: string;
  passwordIntro: string;
  passwordLabel: string;
  passwordFailed: string;
  submit: string;
  callingHeading: string;
  calling: string;
  callingKeepOpen: string;
  refresh: string;
  progress: {
    waiting: string;
    dialing: string;
    ringing: string;
    answered: string;
    busy: string;
    no_answer: string;
    rejected: string;
    failed: string;
    retryIn: string;
    pinOk: string;
    pinWrong: string;
    pinLocked: string;
  };
  sentenceGap: string;
  result: Record<ResultStatus, string>;
  resultDetail: {
    succeeded: string;
    expired: string;
    canceled: string;
    refunded: string;
    declined: string;
    failed: string;
  };
  failure: Record<FailureCode, string>;
  returnLink: string;
  returning: string;
  stepMoved: string;
  notFoundTitle: string;
  notFound: string;
  forbiddenTitle: string;
  forbidden: string;
  reload: string;
  tooManyTitle: string;
  tooMany: string;
  errorTitle: string;
  error: string;
  payHeading: string;
  payIntro: string;
  amountInputLabel: string;
  amountHint: string;
  amountInvalid: string;
  amountTooLarge: string;
  merchantUnavailable: string;
  doneHeadingUnverified: string;
  doneUnverified: string;
}

const EN: Strings = {
  languageNav: 'Language',
  paymentSummary: 'Payment',
  amountLabel: 'Amount',
  referenceLabel: 'Reference',
  descriptionLabel: 'For',
  expiresLabel: 'Time left',
  loginHeading: 'Sign in to pay',
  loginLabel: 'Login account',
  loginHint: 'The login account your phone company gave you.',
  loginFailed: 'We could not start payment authorization for this login account.',
  passwordHeading: 'Enter your password',
  passwordIntro: 'This amount needs your authentication password.',
  passwordLabel: 'Password',
  passwordFailed: 'We could not verify this password.',
  submit: 'Continue',
  callingHeading: 'Answer your phone',
  calling: 'We are calling your phone ending in …{ending}. Answer and key your PIN.',
  callingKeepOpen: 'Keep this page open until the call ends.',
  refresh: 'Refresh',
  progress: {
    waiting: 'Placing the call…',
    dialing: 'Calling your phone…',
    ringing: 'Your phone is ringing.',
    answered: 'Call answered. Listen, then key your PIN and press #.',
    busy: 'Your line was busy.',
    no_answer: 'The call was not answered.',
    rejected: 'The call was rejected.',
    failed: 'The call could not be placed.',
    retryIn: 'We will call again in {seconds} s.',
    pinOk: 'PIN accepted.',
    pinWrong: 'Wrong PIN. Try again on the call.',
    pinLocked: 'Too many wrong PINs.',
  },
  sentenceGap: ' ',
  result: {
    succeeded: 'Payment approved',
    declined: 'Payment declined',
    failed: 'Payment not completed',
    expired: 'Payment expired',
    canceled: 'Payment canceled',
    refunded: 'Payment refunded',
    partially_refunded: 'Payment partly refunded',
  },
  resultDetail: {
    succeeded: '{amount} will be billed to your phone company account.',
    expired: 'The time to pay has run out. Nothing was charged.',
    canceled: '{merchant} canceled this payment. Nothing was charged.',
    refunded: '{merchant} refunded this payment.',
    declined: 'Nothing was charged.',
    failed: 'Nothing was charged.',
  },
  failure: {
    insufficient_funds: 'Your prepaid balance does not cover this amount.',
    credit_limit_exceeded: 'This amount is above the credit left on your account.',
    consumer_declined: 'The payment was declined on the call.',
    wrong_pin: 'The PIN was not accepted.',
    no_input: 'No PIN was keyed.',
    consumer_locked: 'Your account is locked. Contact your phone company.',
    consumer_unavailable: 'This account cannot make this payment.',
    call_limit_exceeded: 'Too many payment calls to this phone recently. Please try again later.',
    busy: 'Your line was busy.',
    no_answer: 'The call was not answered.',
    call_failed: 'The call could not be placed.',
    hung_up: 'The call ended before the PIN was keyed.',
    interrupted: 'The call was interrupted.',
    password_failed: 'The password was not accepted.',
  },
  returnLink: 'Return to {merchant}',
  returning: 'Taking you back to {merchant}…',
  stepMoved: 'This step is already done. Here is where the payment stands now.',
  notFoundTitle: 'Payment link not valid',
  notFound: 'This payment link is not valid. Check the link, or ask the merchant for a new one.',
  forbiddenTitle: 'Form expired',
  forbidden: 'This form could not be accepted. Reload the page and try again.',
  reload: 'Reload the page',
  tooManyTitle: 'Too many attempts',
  tooMany: 'Too many attempts, try again later.',
  errorTitle: 'Something went wrong',
  error: 'Please try again in a moment.',
  payHeading: 'Pay {merchant}',
  payIntro: 'You will sign in with your phone company login account, then confirm by phone.',
  amountInputLabel: 'Amount ({currency})',
  amountHint: 'For example {example}',
  amountInvalid: 'Enter an amount like {example}.',
  amountTooLarge: 'This amount is above the maximum allowed.',
  merchantUnavailable: 'This merchant cannot take payments right now.',
  doneHeadingUnverified: 'Result not verified',
  doneUnverified: 'This payment result could not be verified. Ask the merchant to check the payment.',
};

const ZH: Strings = {
  languageNav: '語言',
  paymentSummary: '付款資訊',
  amountLabel: '金額',
  referenceLabel: '訂單編號',
  descriptionLabel: '品項',
  expiresLabel: '剩餘時間',
  loginHeading: '登入以付款',
  loginLabel: '登入帳號',
  loginHint: '您的電信業者提供的登入帳號。',
  loginFailed: '無法為此登入帳號啟動付款授權。',
  passwordHeading: '請輸入密碼',
  passwordIntro: '此金額需要輸入您的驗證密碼。',
  passwordLabel: '密碼',
  passwordFailed: '無法驗證此密碼。',
  submit: '繼續',
  callingHeading: '請接聽電話',
  calling: '我們正在撥打您尾號 …{ending} 的電話，請接聽並輸入您的 PIN 碼。',
  callingKeepOpen: '通話結束前，請勿關閉此頁面。',
  refresh: '重新整理',
  progress: {
    waiting: '正在準備撥號…',
    dialing: '正在撥打您的電話…',
    ringing: '您的電話正在響鈴。',
    answered: '電話已接通。請聆聽語音後輸入 PIN 碼，再按 # 鍵。',
    busy: '您的電話忙線中。',
    no_answer: '電話無人接聽。',
    rejected: '電話遭到拒接。',
    failed: '無法撥通您的電話。',
    retryIn: '將於 {seconds} 秒後再次撥打。',
    pinOk: 'PIN 碼正確。',
    pinWrong: 'PIN 碼錯誤，請在通話中重新輸入。',
    pinLocked: 'PIN 碼錯誤次數過多。',
  },
  sentenceGap: '',
  result: {
    succeeded: '付款成功',
    declined: '付款遭拒',
    failed: '付款未完成',
    expired: '付款已逾時',
    canceled: '付款已取消',
    refunded: '付款已退款',
    partially_refunded: '付款已部分退款',
  },
  resultDetail: {
    succeeded: '{amount} 將列入您的電信帳單。',
    expired: '付款時限已過，未收取任何費用。',
    canceled: '{merchant} 已取消此筆付款，未收取任何費用。',
    refunded: '{merchant} 已將此筆付款退款。',
    declined: '未收取任何費用。',
    failed: '未收取任何費用。',
  },
  failure: {
    insufficient_funds: '您的預付餘額不足以支付此金額。',
    credit_limit_exceeded: '此金額超過您帳戶的剩餘信用額度。',
    consumer_declined: '您已在通話中拒絕此筆付款。',
    wrong_pin: 'PIN 碼未通過驗證。',
    no_input: '未輸入 PIN 碼。',
    consumer_locked: '您的帳戶已被鎖定，請聯絡您的電信業者。',
    consumer_unavailable: '此帳戶無法進行這筆付款。',
    call_limit_exceeded: '近期撥往此電話的付款確認次數過多，請稍後再試。',
    busy: '您的電話忙線中。',
    no_answer: '電話無人接聽。',
    call_failed: '無法撥通您的電話。',
    hung_up: '輸入 PIN 碼前通話已結束。',
    interrupted: '通話中斷。',
    password_failed: '密碼未通過驗證。',
  },
  returnLink: '返回 {merchant}',
  returning: '即將帶您返回 {merchant}…',
  stepMoved: '此步驟已完成，以下是這筆付款目前的狀態。',
  notFoundTitle: '付款連結無效',
  notFound: '此付款連結無效。請確認連結，或向商家索取新的連結。',
  forbiddenTitle: '表單已失效',
  forbidden: '無法受理此表單。請重新載入頁面後再試一次。',
  reload: '重新載入頁面',
  tooManyTitle: '嘗試次數過多',
  tooMany: '嘗試次數過多，請稍後再試。',
  errorTitle: '發生錯誤',
  error: '請稍後再試一次。',
  payHeading: '付款給 {merchant}',
  payIntro: '接下來請以電信業者提供的登入帳號登入，再透過電話確認付款。',
  amountInputLabel: '金額（{currency}）',
  amountHint: '例如 {example}',
  amountInvalid: '請輸入正確的金額，例如 {example}。',
  amountTooLarge: '此金額超過允許的上限。',
  merchantUnavailable: '此商家目前無法收款。',
  doneHeadingUnverified: '付款結果未經驗證',
  doneUnverified: '無法驗證此付款結果，請商家查詢這筆付款。',
};

export const STRINGS: Record<Lang, Strings> = { 'en-US': EN, 'zh-TW': ZH };

export function parseLang(value: string | undefined): Lang | undefined {
  return LANGS.find((l) => l.toLowerCase() === value?.toLowerCase());
}

/**
 * Picks the page language from Accept-Language, in the listed preference order: Chinese in
 * Traditional script (zh, zh-TW, zh-Hant, zh-HK, zh-MO) → zh-TW, English → en-US; languages we do
 * not have are skipped; nothing usable → en-US.
 */
export function negotiate(acceptLanguage: string | undefined): Lang {
  const ranges = (acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((r) => r.tag && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranges) {
    if (tag === 'zh' || /^zh-(tw|hk|mo|hant)(-|$)/.test(tag)) return 'zh-TW';
    if (tag === 'en' || tag.startsWith('en-')) return 'en-US';
  }
  return 'en-US';
}

/** Minor units as an exact decimal string ("150.00"): Intl formats it without a float. */
function decimal(minor: number, exponent: number): Intl.StringNumericLiteral {
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  return `${minor < 0 ? '-' : ''}${whole}${exponent > 0 ? `.${digits.slice(-exponent)}` : ''}` as Intl.StringNumericLiteral;
}

/** Currencies a Taiwanese reader names with "元" after the number: 新臺幣 150.00 元. */
const ZH_YUAN: Record<string, string> = { TWD: '新臺幣', CNY: '人民幣', HKD: '港幣' };

/** 15000 TWD → "NT$150.00" (en-US) or "新臺幣 150.00 元" (zh-TW), with the currency's ISO exponent. */
export function formatAmount(minor: number, currency: string, lang: Lang): string {
  const exponent = exponentOf(currency);
  const digits = { minimumFractionDigits: exponent, maximumFractionDigits: exponent };
  const value = decimal(minor, exponent);
  if (lang === 'en-US') return new Intl.NumberFormat('en-US', { style: 'currency', currency, ...digits }).format(value);
  const number = new Intl.NumberFormat('zh-TW', digits).format(value);
  const yuan = ZH_YUAN[currency];
  if (yuan) return `${yuan} ${number} 元`;
  return `${new Intl.DisplayNames(['zh-TW'], { type: 'currency' }).of(currency) ?? currency} ${number}`;
}

/** An example amount for the open-amount input, in the currency's format: "150.50" or "150". */
export function amountExample(currency: string): string {
  return exponentOf(currency) === 0 ? '150' : `150.${'5'.padEnd(exponentOf(currency), '0')}`;
}

/** Seconds → "9:05" (also what checkout.js shows as it counts down). */
export function formatTimeLeft(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function formatDateTime(iso: string, lang: Lang, timeZone: string | undefined): string {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso));
}
