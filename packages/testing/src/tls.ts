/** Throw-away TLS material for tests, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** File paths, for servers and for URL options such as `ssl_ca_certs`. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The same files' contents, for Node's TLS options. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A one-day CA and a server certificate it signed, valid for 127.0.0.1 and localhost, written into `dir`. */
export function createTestCertificates(dir: string): TestCertificates {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=tq-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf');
  const caFile = join(dir, 'ca.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  return { caFile, certFile, keyFile, ca: readFileSync(caFile), cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
