import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { CallpayError } from '../domain/errors.js';

const KEY_BYTES = 32;
const ENV_VAR = 'CALLPAY_MASTER_KEY';

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Creates a new key file; never overwrites an existing one (that would orphan every sealed value). */
export async function createKeyFile(path: string): Promise<void> {
  const key = randomBytes(KEY_BYTES);
  let file;
  try {
    file = await open(path, 'wx', 0o600);
  } catch (e) {
    if (errno(e) === 'EEXIST') {
      throw new CallpayError('already_exists', `key file ${path} already exists; refusing to overwrite it`);
    }
    throw e;
  }
  try {
    await file.writeFile(key.toString('base64') + '\n');
  } finally {
    await file.close();
    key.fill(0);
  }
  await chmod(path, 0o600); // the umask may have narrowed or the fs widened the create mode
}

/** base64 (32 bytes) or 64 hex characters; null when it is neither. */
function decodeKey(text: string): Uint8Array | null {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return new Uint8Array(Buffer.from(s, 'hex'));
  if (/^[A-Za-z0-9+/]{43}=?$/.test(s)) {
    const bytes = Buffer.from(s, 'base64');
    if (bytes.length === KEY_BYTES) return new Uint8Array(bytes);
  }
  return null;
}

export async function loadMasterKey(opts: { keyFile: string; env: NodeJS.ProcessEnv }): Promise<Uint8Array> {
  const fromEnv = opts.env[ENV_VAR];
  // Set but empty is a mistake to report, not a reason to fall back silently to the key file.
  if (fromEnv !== undefined) {
    const key = decodeKey(fromEnv);
    if (!key) {
      throw new CallpayError('key_invalid', `${ENV_VAR} must be 32 bytes as base64 or 64 hex characters`, ENV_VAR);
    }
    return key;
  }

  const path = opts.keyFile;
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (e) {
    if (errno(e) === 'ENOENT') {
      throw new CallpayError('key_missing', `key file ${path} not found; create one with \`callpay init\` or set ${ENV_VAR}`);
    }
    throw e;
  }
  if ((mode & 0o077) !== 0) {
    throw new CallpayError(
      'key_insecure',
      `key file ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); it must be 0600: chmod 600 ${path}`,
    );
  }
  const key = decodeKey(await readFile(path, 'utf8'));
  if (!key) {
    throw new CallpayError('key_invalid', `key file ${path} does not hold a 32-byte base64 or hex key`);
  }
  return key;
}
