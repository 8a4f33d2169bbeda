import {
  DEFAULT_POLICY, normalizeLogin, parseAddress, parseLocale, parseNationalId, parsePassword, parsePin,
  type ConsumerPolicy, type Locale,
} from '../domain/consumer.js';
import { CallpayError, invalidField } from '../domain/errors.js';
import type { CarrierCeilings } from '../domain/policy.js';
import { parsePhone } from '../domain/phone.js';
import type { SecretHasher } from '../crypto/secret-hasher.js';

import type { ConsumerRepository } from '../payments/repositories.js';
import type { Consumer, ConsumerChanges } from '../domain/consumer.js';

/**
 * Operator-side consumer services. Everything is validated before anything is written, and the
 * slow Argon2id hashing happens before the (short) insert, never inside it.
 */
export interface ConsumerAdminDeps {
  consumers: ConsumerRepository;
  hasher: SecretHasher;
  defaultLocale: Locale;
}

export interface EnrolInput {
  login: string;
  phone: string;
  nationalId: string;
  address: string;
  locale?: string | undefined;
  pin: string;
  password?: string | undefined;
}

export async function enrolConsumer(deps: ConsumerAdminDeps, input: EnrolInput): Promise<Consumer> {
  const login = normalizeLogin(input.login);
  const phone = parsePhone(input.phone).e164;
  const nationalId = parseNationalId(input.nationalId);
  const address = parseAddress(input.address);
  const locale = input.locale === undefined ? deps.defaultLocale : parseLocale(input.locale);
  const pin = parsePin(input.pin);
  const password = input.password === undefined ? undefined : parsePassword(input.password);
  if (await deps.consumers.findByLogin(login)) {
    throw new CallpayError('already_exists', 'login: this login account is already enrolled', 'login');
  }
  const pinHash = await deps.hasher.hash(pin);
  const passwordHash = password === undefined ? null : await deps.hasher.hash(password);
  const policy: ConsumerPolicy = { ...DEFAULT_POLICY };
  return deps.consumers.add({ login, phone, nationalId, address, locale, pinHash, passwordHash, policy });
}

/** Finds a consumer by id ("cons_…") or by login account. */
export async function findConsumer(consumers: ConsumerRepository, ref: string): Promise<Consumer> {
  const byId = ref.startsWith('cons_') ? await consumers.find(ref) : undefined;
  const found = byId ?? (looksLikeLogin(ref) ? await consumers.findByLogin(normalizeLogin(ref)) : undefined);
  if (!found) throw new CallpayError('not_found', 'consumer: no consumer with that id or login account', 'consumer');
  return found;
}

function looksLikeLogin(ref: string): boolean {
  try {
    normalizeLogin(ref);
    return true;
  } catch {
    return false;
  }
}

export interface UpdateInput {
  phone?: string | undefined;
  nationalId?: string | undefined;
  address?: string | undefined;
  locale?: string | undefined;
}

export async function updateConsumer(consumers: ConsumerRepository, id: string, input: UpdateInput): Promise<Consumer> {
  const changes: ConsumerChanges = {};
  if (input.phone !== undefined) changes.phone = parsePhone(input.phone).e164;
  if (input.nationalId !== undefined) changes.nationalId = parseNationalId(input.nationalId);
  if (input.address !== undefined) changes.address = parseAddress(input.address);
  if (input.locale !== undefined) changes.locale = parseLocale(input.locale);
  return consumers.update(id, changes);
}

export async function setPin(deps: ConsumerAdminDeps, id: string, pin: string): Promise<void> {
  const valid = parsePin(pin);
  await deps.consumers.get(id);
  const pinHash = await deps.hasher.hash(valid);
  await deps.consumers.setPinHash(id, pinHash);
}

/** An empty password removes it. */
export async function setPassword(deps: ConsumerAdminDeps, id: string, password: string): Promise<void> {
  await deps.consumers.get(id);
  if (password === '') {
    await deps.consumers.setPasswordHash(id, null);
    return;
  }
  const passwordHash = await deps.hasher.hash(parsePassword(password));
  await deps.consumers.setPasswordHash(id, passwordHash);
}

export async function checkPin(deps: ConsumerAdminDeps, id: string, pin: string): Promise<boolean> {
  return deps.hasher.verify(pin, await deps.consumers.pinHash(id));
}

export interface PolicyInput {
  passwordAbove?: number | undefined;
  callAbove?: number | undefined;
  frictionlessAmount?: number | null | undefined;
  frictionlessCount?: number | null | undefined;
}

/**
 * Sets a consumer's flexible policy. The consumer chooses within the carrier's ceilings: calls can
 * be skipped only up to the carrier's "always call above", and the frictionless allowance cannot
 * exceed the carrier's.
 */
export async function setPolicy(consumers: ConsumerRepository, id: string, input: PolicyInput, ceilings: CarrierCeilings): Promise<Consumer> {
  const current = (await consumers.get(id)).policy;
  const next: ConsumerPolicy = {
    passwordAbove: input.passwordAbove ?? current.passwordAbove,
    callAbove: input.callAbove ?? current.callAbove,
    frictionlessAmount: input.frictionlessAmount === undefined ? current.frictionlessAmount : input.frictionlessAmount,
    frictionlessCount: input.frictionlessCount === undefined ? current.frictionlessCount : input.frictionlessCount,
  };
  if (ceilings.callAlwaysAbove !== null && next.callAbove > ceilings.callAlwaysAbove) {
    throw invalidField('call-above', `the carrier requires a call above ${ceilings.callAlwaysAbove}; choose at most that`);
  }
  if (ceilings.frictionlessMaxAmount !== null && (next.frictionlessAmount === null || next.frictionlessAmount > ceilings.frictionlessMaxAmount)) {
    if (input.frictionlessAmount !== undefined) throw invalidField('frictionless-amount', `at most ${ceilings.frictionlessMaxAmount} (carrier ceiling)`);
  }
  if (ceilings.frictionlessMaxCount !== null && (next.frictionlessCount === null || next.frictionlessCount > ceilings.frictionlessMaxCount)) {
    if (input.frictionlessCount !== undefined) throw invalidField('frictionless-count', `at most ${ceilings.frictionlessMaxCount} (carrier ceiling)`);
  }
  return consumers.setPolicy(id, next);
}
