// Default import on purpose: the ESM build attaches crypto_* functions to the default object once
// ready; a namespace import (`import * as`) only sees a handful of static helpers.
import sodium from 'libsodium-wrappers-sumo';

export type Sodium = typeof sodium;

let loading: Promise<Sodium> | undefined;

/** The ready libsodium module; the WASM is initialised once per thread. */
export function loadSodium(): Promise<Sodium> {
  loading ??= sodium.ready.then(() => sodium);
  return loading;
}
