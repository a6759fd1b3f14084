/**
 * A throw-away certificate authority for tests of etcd over TLS, made with
 * the openssl command line in a directory of the caller's (per run). EC keys
 * (P-256): generating them takes milliseconds where RSA takes seconds.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  /** The CA certificate (PEM path). */
  ca: string;
  /** Makes `<name>.pem`/`<name>.key` signed by this CA, for a server (with IP SANs) or a client. */
  issue(name: string, opts?: { ips?: readonly string[]; server?: boolean }): CertFiles;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A new CA named `name` in `dir` (files `<name>-ca.pem`, `<name>-ca.key`). */
export function makePki(dir: string, name = 'test'): Pki {
  const file = (n: string): string => join(dir, n);
  const caKey = file(`${name}-ca.key`);
  const ca = file(`${name}-ca.pem`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', `/CN=${name}-ca`]);
  return {
    dir,
    ca,
    issue(certName, opts = {}) {
      const key = file(`${certName}.key`);
      const cert = file(`${certName}.pem`);
      const csr = file(`${certName}.csr`);
      const ext = file(`${certName}.ext`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${certName}`]);
      const lines = [`extendedKeyUsage=${opts.server ? 'serverAuth,clientAuth' : 'clientAuth'}`];
      if (opts.ips?.length) lines.push(`subjectAltName=${opts.ips.map((ip) => `IP:${ip}`).join(',')}`);
      writeFileSync(ext, `${lines.join('\n')}\n`);
      openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
      return { cert, key };
    },
  };
}
