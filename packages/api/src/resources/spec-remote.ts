/**
 * RemoteCluster: another Terrace cluster this one reads (pools, blocks,
 * nodes; never writes) to refuse overlapping pools and to route to its pods
 * through gateway nodes. Credentials are references to files on the
 * controller's host, so a manifest or `get -o yaml` never holds a secret.
 */
import { quote } from '../errors.js';
import { parseDuration } from '../duration.js';
import type { Fields } from './fields.js';
import { dnsSubdomainProblem } from './meta.js';
import { validateSelectorField } from './selector.js';
import type { RemoteClusterSpec, RemoteEtcdSpec } from './types.js';
import { readDuration, readSecretKeyRef } from './values.js';

export const REMOTECLUSTER_FIELDS = ['clusterName', 'etcd', 'gatewayNodeSelector', 'remoteGatewaySelector', 'staleAfter'] as const;
const REMOTE_ETCD_FIELDS = ['endpoints', 'caFile', 'certFile', 'keyFile', 'usernameSecretRef', 'passwordSecretRef'] as const;

export const DEFAULT_STALE_AFTER = '30s';

function readEndpoints(f: Fields): string[] {
  const list = f.list('endpoints');
  if (!list || list.length === 0) return f.fail('endpoints', 'must list at least one etcd URL, e.g. https://198.18.1.2:2379');
  const schemes = new Set<string>();
  const out = list.map((v, i) => {
    if (typeof v !== 'string') return f.fail('endpoints', `[${i}] must be a URL string`);
    let url: URL;
    try {
      url = new URL(v.trim());
    } catch {
      return f.fail('endpoints', `[${i}] ${quote(v)} is not a URL (expected e.g. https://198.18.1.2:2379)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return f.fail('endpoints', `[${i}] ${quote(v)} must be http:// or https://`);
    if (url.pathname !== '/' || url.search || url.hash || url.username) return f.fail('endpoints', `[${i}] ${quote(v)} must be scheme://host:port only`);
    schemes.add(url.protocol);
    return `${url.protocol}//${url.hostname}:${url.port || '2379'}`;
  });
  if (schemes.size > 1) f.fail('endpoints', 'mixes http:// and https://; use one scheme');
  return out;
}

function readPath(f: Fields, key: string): string | undefined {
  const s = f.string(key);
  if (s === undefined) return undefined;
  if (!s.startsWith('/')) f.fail(key, `${quote(s)} must be an absolute path on the controller's host`);
  return s;
}

function readRemoteEtcd(f: Fields): RemoteEtcdSpec {
  const out: RemoteEtcdSpec = { endpoints: readEndpoints(f) };
  for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
    const p = readPath(f, k);
    if (p !== undefined) out[k] = p;
  }
  if ((out.certFile === undefined) !== (out.keyFile === undefined)) {
    f.fail(out.certFile === undefined ? 'certFile' : 'keyFile', 'certFile and keyFile go together (a client certificate and its key)');
  }
  const tls = out.caFile !== undefined || out.certFile !== undefined;
  if (tls && !out.endpoints[0]?.startsWith('https:')) f.fail('endpoints', 'must be https:// when TLS files are given');
  const user = readSecretKeyRef(f, 'usernameSecretRef');
  const pass = readSecretKeyRef(f, 'passwordSecretRef');
  if ((user === undefined) !== (pass === undefined)) {
    f.fail(user === undefined ? 'usernameSecretRef' : 'passwordSecretRef', 'usernameSecretRef and passwordSecretRef go together');
  }
  if (user) out.usernameSecretRef = user;
  if (pass) out.passwordSecretRef = pass;
  return out;
}

export function readRemoteClusterSpec(f: Fields, name: string): RemoteClusterSpec {
  const clusterName = f.string('clusterName') ?? name;
  const cp = dnsSubdomainProblem(clusterName);
  if (cp) f.fail('clusterName', `${quote(clusterName)} ${cp}`);
  const etcd: Fields | undefined = f.object('etcd', REMOTE_ETCD_FIELDS);
  if (!etcd) return f.fail('etcd', 'is required (at least endpoints)');
  const out: RemoteClusterSpec = {
    clusterName,
    etcd: readRemoteEtcd(etcd),
    remoteGatewaySelector: (f.string('remoteGatewaySelector') ?? '').trim() || 'all()',
    staleAfter: readDuration(f, 'staleAfter') ?? DEFAULT_STALE_AFTER,
  };
  validateSelectorField(f.ref, f.at('remoteGatewaySelector'), out.remoteGatewaySelector);
  const gw = f.string('gatewayNodeSelector')?.trim();
  if (gw) {
    validateSelectorField(f.ref, f.at('gatewayNodeSelector'), gw);
    out.gatewayNodeSelector = gw;
  }
  if (parseDuration(out.staleAfter) < 1000) f.fail('staleAfter', `${quote(out.staleAfter)} is too short; use at least 1s`);
  return out;
}
