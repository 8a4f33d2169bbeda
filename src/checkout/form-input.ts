import express, { type RequestHandler } from 'express';
import { isAllowedText } from '../domain/text.js';
import type { Strings } from './i18n.js';
import { param } from './http.js';

/**
 * The pages' forms post application/x-www-form-urlencoded, flat; any other body is refused with 415
 * (through the checkout error page) before a token, cookie or field is looked at. Too large or too
 * many fields: 413 from the parser.
 */
export function formBody(limits: { limit: string; parameterLimit: number }): RequestHandler {
  const parse = express.urlencoded({ extended: false, ...limits });
  return (req, res, next) => {
    const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? '0') > 0;
    if (hasBody && !req.is('application/x-www-form-urlencoded')) {
      next(Object.assign(new Error('content-type: expected a form'), { status: 415 }));
      return;
    }
    void parse(req, res, next);
  };
}

/** True when the typed field is absent or holds only allowed text (the rule of domain/text.ts). */
export function allowedField(body: unknown, name: string): boolean {
  const value = param(body, name);
  return value === undefined || isAllowedText(value);
}

/** The page's message for a field refused by that rule, naming the field by its label. */
export function textRefused(t: Strings, label: string): string {
  return t.textRefused.replace('{field}', label);
}
