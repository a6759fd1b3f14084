import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError } from '@terrace/api';
import { connect } from '../src/client.js';
import { type ConnectionFlags, resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { peer } from './fixtures.js';
import { type RestartableEtcd, restartableEtcd } from '@terrace/testkit';

let dir: string;
let etcd: RestartableEtcd | undefined;
const f = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A CA and a certificate it signs for `cn`, valid for 127.0.0.1. */
function issue(ca: string, cn: string, usage: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${cn}.key`), '-out', f(`${cn}.csr`), '-subj', `/CN=${cn}`);
  writeFileSync(f(`${cn}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
  openssl('x509', '-req', '-in', f(`${cn}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-out', f(`${cn}.pem`), '-days', '1', '-extfile', f(`${cn}.ext`));
}

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '1', '-subj', `/CN=${name}`);
}

function cfg(flags: ConnectionFlags) {
  return resolveConnectionConfig({ etcdEndpoints: etcd?.endpoint, cluster: 'tls', ...flags }, {}, '/nonexistent/terrace.yaml');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-tls-'));
  makeCa('ca');
  makeCa('other-ca');
  issue('ca', 'server', 'serverAuth,clientAuth');
  issue('ca', 'client', 'clientAuth');
  etcd = await restartableEtcd('tls-test', { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') });
});

afterAll(async () => {
  await etcd?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS with client certificates', () => {
  it('connects with CA, client cert and key, and stores resources', async () => {
    const client = await connect(cfg({ etcdCa: f('ca.pem'), etcdCert: f('client.pem'), etcdKey: f('client.key') }));
    const store = new EtcdResourceStore(client, new Keys('tls'));
    await store.create(peer('over-tls'));
    expect((await store.get('BGPPeer', 'over-tls')).metadata.name).toBe('over-tls');
    client.close();
  });

  it.each<[string, () => ConnectionFlags, string]>([
    ['without a client certificate', () => ({ etcdCa: f('ca.pem') }), 'TLS handshake failed: etcd refused our client certificate'],
    ['trusting another CA', () => ({ etcdCa: f('other-ca.pem'), etcdCert: f('client.pem'), etcdKey: f('client.key') }), "TLS handshake failed: etcd's server certificate is signed by an unknown authority"],
  ])('is Unavailable %s, naming the endpoint and the refusing side, without hanging', async (_name, flags, why) => {
    const start = Date.now();
    let err: unknown;
    try {
      (await connect(cfg(flags()))).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as TerraceError).code).toBe('Unavailable');
    expect((err as TerraceError).message).toContain(`etcd unreachable at ${etcd?.endpoint}: ${why}`);
    expect((err as TerraceError).message).not.toContain('\n');
    expect(Date.now() - start).toBeLessThan(6000);
  });
});
