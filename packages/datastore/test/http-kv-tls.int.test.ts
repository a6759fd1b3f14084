/** The HTTP reader against an etcd that serves TLS and requires client certificates. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError } from '@terrace/api';
import { connect } from '../src/client.js';
import { type ConnectionFlags, resolveConnectionConfig } from '../src/config.js';
import { HttpResourceReader } from '../src/http-kv.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { peer } from './fixtures.js';
import { type RestartableEtcd, restartableEtcd } from '@terrace/testkit';

let dir = '';
let etcd: RestartableEtcd | undefined;
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A self-signed P-256 CA named `name`. */
function authority(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '1', '-subj', `/CN=${name}`);
}

/** A certificate for 127.0.0.1 signed by `ca`, with the given extended key usage. */
function leaf(ca: string, name: string, usage: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`);
  writeFileSync(file(`${name}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.pem`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '1', '-extfile', file(`${name}.ext`));
}

function cfg(flags: ConnectionFlags) {
  return resolveConnectionConfig({ etcdEndpoints: etcd?.endpoint, cluster: 'tls', ...flags }, {}, '/nonexistent/terrace.yaml');
}

const clientTls = (): ConnectionFlags => ({ etcdCa: file('ca.pem'), etcdCert: file('client.pem'), etcdKey: file('client.key') });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-httpkv-tls-'));
  authority('ca');
  authority('other-ca');
  leaf('ca', 'server', 'serverAuth,clientAuth');
  leaf('ca', 'client', 'clientAuth');
  etcd = await restartableEtcd('httpkv-tls', { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') });
  const writer = await connect(cfg(clientTls()));
  try {
    await new EtcdResourceStore(writer, new Keys('tls')).create(peer('over-tls'));
  } finally {
    writer.close();
  }
});

afterAll(async () => {
  await etcd?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('HTTP reader over TLS', () => {
  it('reads with CA, client certificate and key', async () => {
    const reader = await HttpResourceReader.open(cfg(clientTls()));
    try {
      expect((await reader.get('BGPPeer', 'over-tls')).spec.peerIP).toBe('198.18.0.1:179');
      expect((await reader.list('BGPPeer')).items.map((p) => p.metadata.name)).toEqual(['over-tls']);
    } finally {
      reader.close();
    }
  });

  it.each<[string, () => ConnectionFlags, string]>([
    ['without a client certificate', () => ({ etcdCa: file('ca.pem') }), 'TLS handshake failed: etcd refused our client certificate (sslv3 alert bad certificate): it needs one signed by a CA in its --trusted-ca-file (set --etcd-cert and --etcd-key)'],
    ['trusting another CA', () => ({ ...clientTls(), etcdCa: file('other-ca.pem') }), "TLS handshake failed: etcd's server certificate is signed by an unknown authority (unable to verify the first certificate); set --etcd-ca to the CA that signed it"],
    ['trusting only the bundled roots', () => ({ etcdCert: file('client.pem'), etcdKey: file('client.key') }), "TLS handshake failed: etcd's server certificate is signed by an unknown authority (unable to verify the first certificate); set --etcd-ca to the CA that signed it"],
  ])('is Unavailable %s, naming the endpoint, without hanging', async (_name, flags, reason) => {
    const start = Date.now();
    let err: unknown;
    const reader = await HttpResourceReader.open(cfg(flags()));
    try {
      await reader.list('BGPPeer');
    } catch (e) {
      err = e;
    } finally {
      reader.close();
    }
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as TerraceError).code).toBe('Unavailable');
    expect((err as TerraceError).message).toBe(`etcd unreachable at ${etcd?.endpoint}: ${reason}`);
    expect(Date.now() - start).toBeLessThan(6000);
  });

  it('reports an unreadable TLS file as Invalid, naming it', async () => {
    const c = cfg(clientTls());
    c.key = file('missing.key');
    let err: unknown;
    try {
      await HttpResourceReader.open(c);
    } catch (e) {
      err = e;
    }
    expect(`${(err as TerraceError).code}: ${(err as TerraceError).message}`).toBe(`Invalid: etcd client key file ${file('missing.key')}: ENOENT`);
  });
});
