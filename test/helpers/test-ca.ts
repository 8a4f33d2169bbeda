import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throw-away PKI for TLS tests, made with the `openssl` CLI (OpenSSL 3) in a temp directory.
 *
 * Every file is PEM; keys are unencrypted EC P-256 (quick to make, accepted by Node and Kamailio).
 * Certificates are valid from the moment they are made, for two days.
 *
 *   ca              the test CA: give `ca.cert` as the trusted CA (telephony.sip TLS CA, Node `ca`)
 *   server          a server certificate signed by `ca` for IP 127.0.0.1 and DNS localhost (SAN), CN localhost:
 *                   the one a TLS peer on loopback presents and that must be accepted
 *   otherCa         a second, unrelated CA: trust it nowhere
 *   untrustedServer same names as `server` but signed by `otherCa`: must be refused as "not signed by our CA"
 *   wrongName       signed by `ca` but only for DNS wrong.example.net (no IP SAN): must be refused when
 *                   connecting to 127.0.0.1 / localhost ("wrong name")
 *   client          a client certificate (extendedKeyUsage clientAuth) signed by `ca`, CN callpay-test-client,
 *                   for peers that require one
 *
 * Call `remove()` (in afterAll) to delete the directory.
 */
export interface CertFiles {
  /** PEM certificate path. */
  cert: string;
  /** PEM private key path (unencrypted). */
  key: string;
}

export interface TestCa {
  dir: string;
  ca: CertFiles;
  server: CertFiles;
  otherCa: CertFiles;
  untrustedServer: CertFiles;
  wrongName: CertFiles;
  client: CertFiles;
  remove(): void;
}

const run = promisify(execFile);

/** Each openssl call is bounded; a hung one fails the test instead of holding it. */
async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir, timeout: 15_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('openssl is not installed (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, cn: string): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await openssl(dir, [
    'req', '-x509', ...KEY_ARGS, '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

async function makeLeaf(dir: string, name: string, issuer: CertFiles, cn: string, extensions: string[]): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, ['basicConstraints=critical,CA:FALSE', ...extensions, ''].join('\n'));
  await openssl(dir, ['req', '-new', ...KEY_ARGS, '-keyout', files.key, '-out', csr, '-subj', `/CN=${cn}`]);
  await openssl(dir, [
    'x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', `0x${randomSerial()}`,
    '-days', '2', '-out', files.cert, '-extfile', ext,
  ]);
  return files;
}

function randomSerial(): string {
  return Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join('').replace(/^0/, '1');
}

const SERVER_EXT = ['keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth'];

/** Makes the whole set (a second or two of openssl). */
export async function makeTestCa(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'callpay-ca-'));
  try {
    const ca = await makeCa(dir, 'ca', 'callpay test CA');
    const otherCa = await makeCa(dir, 'other-ca', 'some other CA');
    const server = await makeLeaf(dir, 'server', ca, 'localhost', [...SERVER_EXT, 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    const untrustedServer = await makeLeaf(dir, 'untrusted-server', otherCa, 'localhost', [...SERVER_EXT, 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    const wrongName = await makeLeaf(dir, 'wrong-name', ca, 'wrong.example.net', [...SERVER_EXT, 'subjectAltName=DNS:wrong.example.net']);
    const client = await makeLeaf(dir, 'client', ca, 'callpay-test-client', ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
    return { dir, ca, server, otherCa, untrustedServer, wrongName, client, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
