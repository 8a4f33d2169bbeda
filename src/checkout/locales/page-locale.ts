import { exponentOf } from '../../domain/money.js';
import type { FailureCode, PaymentStatus } from '../../domain/payment.js';

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
  /** A typed field holds control or text-direction characters (domain/text.ts); `{field}` is its label. */
  textRefused: string;
  amountTooLarge: string;
  merchantUnavailable: string;
  doneHeadingUnverified: string;
  doneUnverified: string;
}

/** What a locale brings to the checkout pages: its texts and how it writes an amount. */
export interface PageLocale {
  strings: Strings;
  /** Minor units with the currency's ISO exponent as this locale writes them ("NT$150.00"). */
  formatAmount(minor: number, currency: string): string;
}

/**
 * Minor units as an exact decimal string ("150.00") and the fraction digits to show: Intl formats
 * the string without a float.
 */
export function decimalAmount(minor: number, currency: string): {
  value: Intl.StringNumericLiteral;
  digits: { minimumFractionDigits: number; maximumFractionDigits: number };
} {
  const exponent = exponentOf(currency);
  const text = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const whole = text.slice(0, text.length - exponent);
  const value = `${minor < 0 ? '-' : ''}${whole}${exponent > 0 ? `.${text.slice(-exponent)}` : ''}` as Intl.StringNumericLiteral;
  return { value, digits: { minimumFractionDigits: exponent, maximumFractionDigits: exponent } };
}
