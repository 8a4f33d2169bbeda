import type { FailureCode, PaymentStatus } from '../domain/payment.js';
import type { ProgressEvent } from '../payments/progress.js';
import { fill, html, type SafeHtml } from './html.js';
import { formatAmount, formatTimeLeft, LANG_NAMES, LANGS, STRINGS, type Lang, type ResultStatus, type Strings } from './i18n.js';

export type Step = 'login' | 'password' | 'calling' | 'result';

/** What every page needs around its content. */
export interface Shell {
  lang: Lang;
  /** Versioned asset URLs (long-cached). */
  assets: { css: string; js: string };
  /** The same page in another language; undefined = no switcher. */
  langHref?: (lang: Lang) => string;
}

export function layout(shell: Shell, o: { title: string; step: string; mainData?: Record<string, string>; body: SafeHtml; noscriptRefresh?: boolean }): string {
  const t = STRINGS[shell.lang];
  const data = Object.entries(o.mainData ?? {}).map(([k, v]) => html` data-${k}="${v}"`);
  const langLinks = shell.langHref
    ? html`<nav class="langs" aria-label="${t.languageNav}">${LANGS.map((l) =>
        html`<a data-testid="lang-${l}" href="${shell.langHref?.(l) ?? ''}" lang="${l}" hreflang="${l}"${l === shell.lang ? html` aria-current="true"` : ''}>${LANG_NAMES[l]}</a>`)}</nav>`
    : '';
  return `<!doctype html>\n${html`<html lang="${shell.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${o.title} · callpay</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${shell.assets.css}">
<script src="${shell.assets.js}" defer></script>
${o.noscriptRefresh ? html`<noscript><meta http-equiv="refresh" content="5"></noscript>` : ''}
</head>
<body>
<header class="top"><span class="brand">callpay</span>${langLinks}</header>
<main id="checkout" data-step="${o.step}"${data}>
${o.body}
</main>
</body>
</html>`}\n`;
}

/** Everything a checkout page shows about one payment. */
export interface PaymentPage {
  paymentId: string;
  /** The checkout page's own URL (with token), and the JSON/SSE endpoints for checkout.js. */
  urls: { page: string; status: string; events: string; return: string; login: string; password: string };
  token: string;
  step: Step;
  status: PaymentStatus;
  failureCode: FailureCode | null;
  merchantName: string;
  amount: number;
  currency: string;
  reference: string;
  description: string;
  expiresIn: number;
  csrf: string;
  error?: string | undefined;
  phoneEnding: string | null;
  progress: ProgressEvent[];
}

function summary(t: Strings, lang: Lang, p: { merchantName: string; amount?: number | undefined; currency: string; reference?: string | undefined; description?: string | undefined; expiresIn?: number | undefined }): SafeHtml {
  return html`<section class="summary" aria-label="${t.paymentSummary}">
<p class="merchant" data-testid="merchant">${p.merchantName}</p>
${p.amount === undefined ? '' : html`<p class="amount" data-testid="amount">${formatAmount(p.amount, p.currency, lang)}</p>`}
<dl>
${p.description ? html`<div><dt>${t.descriptionLabel}</dt><dd data-testid="description">${p.description}</dd></div>` : ''}
${p.reference ? html`<div><dt>${t.referenceLabel}</dt><dd data-testid="reference">${p.reference}</dd></div>` : ''}
${p.expiresIn === undefined ? '' : html`<div><dt>${t.expiresLabel}</dt><dd><span data-testid="expires">${formatTimeLeft(p.expiresIn)}</span></dd></div>`}
</dl>
</section>`;
}

function errorLine(message: string | undefined): SafeHtml | '' {
  return message ? html`<p class="error" role="alert" data-testid="error" id="error">${message}</p>` : '';
}

function hidden(p: PaymentPage): SafeHtml {
  return html`<input type="hidden" name="token" value="${p.token}"><input type="hidden" name="csrf" value="${p.csrf}">`;
}

function describedBy(hint: string, error: string | undefined): string {
  return error ? `${hint} error` : hint;
}

function loginStep(t: Strings, p: PaymentPage): SafeHtml {
  return html`<h1>${t.loginHeading}</h1>
${errorLine(p.error)}
<form data-testid="login-form" method="post" action="${p.urls.login}">
${hidden(p)}
<label for="login">${t.loginLabel}</label>
<input id="login" name="login" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="64" autofocus aria-describedby="${describedBy('login-hint', p.error)}"${p.error ? html` aria-invalid="true"` : ''}>
<p class="hint" id="login-hint">${t.loginHint}</p>
<button type="submit">${t.submit}</button>
</form>`;
}

function passwordStep(t: Strings, p: PaymentPage): SafeHtml {
  return html`<h1>${t.passwordHeading}</h1>
${errorLine(p.error)}
<form data-testid="password-form" method="post" action="${p.urls.password}">
${hidden(p)}
<label for="password">${t.passwordLabel}</label>
<input id="password" type="password" name="password" autocomplete="current-password" required maxlength="256" autofocus aria-describedby="${describedBy('password-hint', p.error)}"${p.error ? html` aria-invalid="true"` : ''}>
<p class="hint" id="password-hint">${t.passwordIntro}</p>
<button type="submit">${t.submit}</button>
</form>`;
}

/** The sentence for the latest call event (checkout.js builds the same from the same strings). */
export function progressText(t: Strings, events: ProgressEvent[]): string {
  const last = [...events].reverse().find((e) => e.type !== 'status');
  if (!last) return t.progress.waiting;
  switch (last.type) {
    case 'dialing':
      return t.progress.dialing;
    case 'ringing':
      return t.progress.ringing;
    case 'answered':
      return t.progress.answered;
    case 'not_answered': {
      const what = t.progress[last.outcome];
      return last.retryInMs === null ? what : `${what}${t.sentenceGap}${fill(t.progress.retryIn, { seconds: Math.round(last.retryInMs / 1000) })}`;
    }
    case 'pin':
      return last.result === 'ok' ? t.progress.pinOk : last.result === 'wrong' ? t.progress.pinWrong : t.progress.pinLocked;
    default:
      return t.progress.waiting;
  }
}

/** The progress sentences for checkout.js, as data attributes (no inline script). */
function progressStrings(t: Strings): SafeHtml {
  const entries: Array<[string, string]> = [
    ['waiting', t.progress.waiting], ['dialing', t.progress.dialing], ['ringing', t.progress.ringing],
    ['answered', t.progress.answered], ['busy', t.progress.busy], ['no-answer', t.progress.no_answer],
    ['rejected', t.progress.rejected], ['failed', t.progress.failed], ['retry-in', t.progress.retryIn],
    ['pin-ok', t.progress.pinOk], ['pin-wrong', t.progress.pinWrong], ['pin-locked', t.progress.pinLocked],
    ['gap', t.sentenceGap],
  ];
  return html`<div id="checkout-strings" hidden${entries.map(([k, v]) => html` data-${k}="${v}"`)}></div>`;
}

function callingStep(t: Strings, p: PaymentPage): SafeHtml {
  return html`<h1>${t.callingHeading}</h1>
${errorLine(p.error)}
<p class="status" data-testid="status" aria-live="polite"><span class="lead">${fill(t.calling, { ending: p.phoneEnding ?? '' })}</span>
<span id="progress" data-testid="progress">${progressText(t, p.progress)}</span></p>
<p class="hint">${t.callingKeepOpen}</p>
<noscript><p><a href="${p.urls.page}">${t.refresh}</a></p></noscript>
${progressStrings(t)}`;
}

function resultDetail(t: Strings, lang: Lang, p: PaymentPage): string {
  const vars = { merchant: p.merchantName, amount: formatAmount(p.amount, p.currency, lang) };
  const status = p.status as ResultStatus;
  if (status === 'declined' || status === 'failed') {
    const why = p.failureCode ? t.failure[p.failureCode] : '';
    return `${why}${why ? t.sentenceGap : ''}${t.resultDetail[status]}`;
  }
  if (status === 'partially_refunded' || status === 'refunded') return fill(t.resultDetail.refunded, vars);
  return fill(t.resultDetail[status], vars);
}

function resultStep(t: Strings, lang: Lang, p: PaymentPage): SafeHtml {
  const status = p.status as ResultStatus;
  const vars = { merchant: p.merchantName };
  return html`<section class="result result-${status}" data-testid="result" data-status="${status}">
<h1>${t.result[status] ?? status}</h1>
${errorLine(p.error)}
<p>${resultDetail(t, lang, p)}</p>
<p><a class="button" data-testid="return" href="${p.urls.return}" autofocus>${fill(t.returnLink, vars)}</a></p>
<p class="hint" id="returning" hidden>${fill(t.returning, vars)}</p>
</section>`;
}

export function paymentPage(shell: Shell, p: PaymentPage): string {
  const t = STRINGS[shell.lang];
  const open = p.step !== 'result';
  const body = html`${summary(t, shell.lang, { ...p, expiresIn: open ? p.expiresIn : undefined })}
<section class="step">
${p.step === 'login' ? loginStep(t, p) : p.step === 'password' ? passwordStep(t, p) : p.step === 'calling' ? callingStep(t, p) : resultStep(t, shell.lang, p)}
</section>`;
  const title = open ? fill(t.payHeading, { merchant: p.merchantName }) : (t.result[p.status as ResultStatus] ?? p.status);
  return layout(shell, {
    title,
    step: p.step,
    mainData: { 'payment-id': p.paymentId, 'page-url': p.urls.page, 'status-url': p.urls.status, 'events-url': p.urls.events, 'expires-in': String(open ? p.expiresIn : 0) },
    body,
    noscriptRefresh: p.step === 'calling',
  });
}

/** 403, 404, 429, 500: a message and, where it helps, a link back. No payment data. */
export function messagePage(shell: Shell, o: { title: string; message: string; link?: { href: string; text: string } | undefined }): string {
  return layout(shell, {
    title: o.title,
    step: 'error',
    body: html`<section class="step">
<h1>${o.title}</h1>
<p class="error" role="alert" data-testid="error">${o.message}</p>
${o.link ? html`<p><a class="button" href="${o.link.href}">${o.link.text}</a></p>` : ''}
</section>`,
  });
}

/** The QR landing: a fixed amount to confirm, or an amount to type. */
export function payLandingPage(shell: Shell, o: { merchantName: string; amount?: number | undefined; currency: string; reference?: string | undefined; description?: string | undefined; action: string; csrf: string; amountValue?: string | undefined; example: string; error?: string | undefined }): string {
  const t = STRINGS[shell.lang];
  const open = o.amount === undefined;
  const body = html`${summary(t, shell.lang, o)}
<section class="step">
<h1>${fill(t.payHeading, { merchant: o.merchantName })}</h1>
${errorLine(o.error)}
<form data-testid="pay-form" method="post" action="${o.action}">
<input type="hidden" name="csrf" value="${o.csrf}">
${open
    ? html`<label for="amount">${fill(t.amountInputLabel, { currency: o.currency })}</label>
<input id="amount" name="amount" inputmode="decimal" autocomplete="off" required maxlength="20" autofocus value="${o.amountValue ?? ''}" aria-describedby="${describedBy('amount-hint', o.error)}"${o.error ? html` aria-invalid="true"` : ''}>
<p class="hint" id="amount-hint">${fill(t.amountHint, { example: o.example })}</p>`
    : ''}
<p class="hint">${t.payIntro}</p>
<button type="submit"${open ? '' : html` autofocus`}>${t.submit}</button>
</form>
</section>`;
  return layout(shell, { title: fill(t.payHeading, { merchant: o.merchantName }), step: 'amount', body });
}

/** The "thank you" page a QR payment returns to: the verified result, for the stall to see. */
export function payDonePage(shell: Shell, o: { verified: false } | { verified: true; status: ResultStatus; merchantName: string; amount: number; currency: string; reference: string; at: string; atIso: string }): string {
  const t = STRINGS[shell.lang];
  if (!o.verified) {
    return layout(shell, {
      title: t.doneHeadingUnverified,
      step: 'result',
      body: html`<section class="result result-unverified" data-testid="result" data-status="unverified">
<h1>${t.doneHeadingUnverified}</h1>
<p role="alert" data-testid="error">${t.doneUnverified}</p>
</section>`,
    });
  }
  return layout(shell, {
    title: t.result[o.status],
    step: 'result',
    body: html`${summary(t, shell.lang, o)}
<section class="result result-${o.status}" data-testid="result" data-status="${o.status}">
<h1>${t.result[o.status]}</h1>
<p><time datetime="${o.atIso}">${o.at}</time></p>
</section>`,
  });
}
