import type { Request, Response } from 'express';
import type { Logger } from '../log.js';

import type { PaymentService } from '../payments/service.js';
import type { Store } from '../payments/repositories.js';
import type { ProgressHub } from '../payments/progress.js';
import { FINAL_STATUSES, type PaymentStatus } from '../domain/payment.js';
import { phoneEnding } from '../domain/phone.js';
import { AttemptLimiter, type WindowLimit } from './limiter.js';
import { StreamRegistry } from './events.js';
import { cookieNames, type CookieNames, type Mac } from './tokens.js';
import { pageLang, sendHtml } from './http.js';
import { messagePage, type Shell, type Step } from './views.js';
import { STRINGS, type Lang } from './i18n.js';
import type { Clock } from '../domain/clock.js';
import type { Payment } from '../domain/payment.js';

export interface CheckoutLimits {
  /** Failed password attempts per login account, and per client address (IPv6: per /64). */
  passwordPerLogin: WindowLimit;
  passwordPerAddress: WindowLimit;
  /** Refused login attempts per login account typed, and per client address. */
  loginPerLogin: WindowLimit;
  loginPerAddress: WindowLimit;
  /** Payments created from payment QRs per client address. */
  payPerAddress: WindowLimit;
  /**
   * Calls placed for payment-QR payments (created by anyone, unauthenticated) per client address
   * that signed in: the QR path must not become a way to ring consumers' phones.
   */
  qrCallsPerAddress: WindowLimit;
  /** Concurrent server-sent event streams, in all and per payment. */
  streams: { total: number; perPayment: number };
}

const FIFTEEN_MINUTES = 15 * 60_000;

export const DEFAULT_LIMITS: CheckoutLimits = {
  passwordPerLogin: { max: 5, windowMs: FIFTEEN_MINUTES },
  passwordPerAddress: { max: 20, windowMs: FIFTEEN_MINUTES },
  loginPerLogin: { max: 10, windowMs: FIFTEEN_MINUTES },
  loginPerAddress: { max: 20, windowMs: FIFTEEN_MINUTES },
  payPerAddress: { max: 30, windowMs: FIFTEEN_MINUTES },
  qrCallsPerAddress: { max: 5, windowMs: 60 * 60_000 },
  streams: { total: 1000, perPayment: 4 },
};

export interface CheckoutDeps {
  /** Every step a page takes (login, password, payment QR) goes through the payment service. */
  payments: PaymentService;
  /** Reads only: the payment, its merchant, the consumer's number ending, the return's secret. */
  store: Store;
  progress: ProgressHub;
  keyring: Mac;
  clock: Clock;
  log: Logger;
  /** Base URL consumers reach callpay at (no trailing slash). */
  publicUrl: string;
  defaultCurrency: string;
  /** The carrier's time zone (billing.timeZone): times shown to consumers are in it. */
  timeZone: string;
  limits?: Partial<CheckoutLimits>;
}

export interface StatusJson {
  status: PaymentStatus;
  step: Step;
  failure_code: string | null;
  phone_ending: string | null;
  expires_in: number;
}

/** Shared by the checkout, events and QR routes: deps, limiters, cookies, and the payment as shown. */
export class CheckoutContext {
  readonly limits: CheckoutLimits;
  readonly cookies: CookieNames;
  readonly streams: StreamRegistry;
  readonly limiter: Record<'passwordLogin' | 'passwordAddress' | 'loginLogin' | 'loginAddress' | 'payAddress' | 'qrCallAddress', AttemptLimiter>;

  constructor(
    readonly d: CheckoutDeps,
    readonly assets: Shell['assets'],
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...d.limits };
    this.cookies = cookieNames(d.publicUrl);
    this.streams = new StreamRegistry(this.limits.streams);
    const make = (scope: string, l: WindowLimit) => new AttemptLimiter(scope, l, d.store);
    this.limiter = {
      passwordLogin: make('password-login', this.limits.passwordPerLogin),
      passwordAddress: make('password-address', this.limits.passwordPerAddress),
      loginLogin: make('login-login', this.limits.loginPerLogin),
      loginAddress: make('login-address', this.limits.loginPerAddress),
      payAddress: make('pay-address', this.limits.payPerAddress),
      qrCallAddress: make('qr-call-address', this.limits.qrCallsPerAddress),
    };
  }

  shell(lang: Lang, langHref?: (l: Lang) => string): Shell {
    return { lang, assets: this.assets, ...(langHref ? { langHref } : {}) };
  }

  /** The payment as the page must show it (one whose time is up is expired first). */
  current(id: string): Promise<Payment | undefined> {
    return this.d.payments.current(id);
  }

  expiresIn(p: Payment): number {
    if (FINAL_STATUSES.has(p.status)) return 0;
    return Math.max(0, Math.floor((Date.parse(p.expiresAt) - this.d.clock().getTime()) / 1000));
  }

  /** Only the last two digits of the enrolled number, and only while it is being called. */
  async phoneEnding(p: Payment): Promise<string | null> {
    if (p.status !== 'calling' || !p.consumerId) return null;
    const consumer = await this.d.store.consumers.find(p.consumerId);
    return consumer ? phoneEnding(consumer.phone) : null;
  }

  async statusJson(p: Payment): Promise<StatusJson> {
    return { status: p.status, step: stepOf(p.status), failure_code: p.failureCode, phone_ending: await this.phoneEnding(p), expires_in: this.expiresIn(p) };
  }

  /** The one "not found" page: unknown payment, missing token and wrong token look the same. */
  notFound(req: Request, res: Response): void {
    const lang = pageLang(req, res, this.cookies);
    const t = STRINGS[lang];
    sendHtml(res, 404, messagePage(this.shell(lang), { title: t.notFoundTitle, message: t.notFound }));
  }
}

export function stepOf(status: PaymentStatus): Step {
  if (status === 'requires_consumer') return 'login';
  if (status === 'requires_password') return 'password';
  if (status === 'calling') return 'calling';
  return 'result';
}
