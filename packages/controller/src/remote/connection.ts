/**
 * How the controller reaches a remote cluster's etcd: a ConnectionConfig
 * built from a RemoteCluster's spec, with the user and password read from
 * the controller's secrets directory (`<dir>/<secret name>/<key>`, the
 * layout of a Kubernetes secret mounted as a volume, as for BGP passwords).
 * A secret that cannot be read is a TerraceError naming the file, never a
 * crash: the sync reports it in the state doc and tries again later.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RemoteCluster, type SecretKeyRef, TerraceError } from '@terrace/api';
import type { ConnectionConfig } from '@terrace/datastore';

const SAFE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function readSecret(rc: RemoteCluster, field: string, ref: SecretKeyRef, dir: string | undefined): string {
  const where = `remotecluster/${rc.metadata.name}: spec.etcd.${field}`;
  if (!dir) throw new TerraceError('Invalid', `${where} names secret ${ref.name}/${ref.key} but the controller has no --secrets-dir`);
  if (!SAFE.test(ref.name) || !SAFE.test(ref.key)) throw new TerraceError('Invalid', `${where}: ${ref.name}/${ref.key} is not a safe secret name`);
  const path = join(dir, ref.name, ref.key);
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new TerraceError('Invalid', `${where}: cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The connection to the remote's etcd; `cluster` is the remote's cluster name (its key prefix). */
export function remoteConnection(rc: RemoteCluster, secretsDir: string | undefined): ConnectionConfig {
  const e = rc.spec.etcd;
  const cfg: ConnectionConfig = { endpoints: [...e.endpoints], cluster: rc.spec.clusterName, sources: {} };
  if (e.caFile !== undefined) cfg.ca = e.caFile;
  if (e.certFile !== undefined) cfg.cert = e.certFile;
  if (e.keyFile !== undefined) cfg.key = e.keyFile;
  if (e.usernameSecretRef && e.passwordSecretRef) {
    cfg.username = readSecret(rc, 'usernameSecretRef', e.usernameSecretRef, secretsDir);
    cfg.password = readSecret(rc, 'passwordSecretRef', e.passwordSecretRef, secretsDir);
  }
  return cfg;
}

/** Errors that mean "the credentials are wrong or not allowed", as opposed to "cannot reach". */
export function isAuthProblem(message: string): boolean {
  return /refused the credentials|denied access|requires a username|permission denied|authentication failed|secret/i.test(message);
}
