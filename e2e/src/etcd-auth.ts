/**
 * etcd users and roles for the lab, with the real etcdctl inside the etcd's
 * namespace: a root user for the cluster's own daemons, and read-only users
 * whose one role may read a single cluster's prefix (what a remote cluster's
 * controller gets), made by deploy/etcd/remote-reader.sh. Passwords are per
 * run and never leave the run's files.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cleanEnv, REPO_ROOT, runIn, type RunResult } from './proc.js';

/** The script the operator docs give for a remote cluster's read-only user. */
export const REMOTE_READER_SCRIPT = join(REPO_ROOT, 'deploy', 'etcd', 'remote-reader.sh');

export interface EtcdCredential {
  username: string;
  password: string;
}

export function newPassword(): string {
  return randomBytes(12).toString('hex');
}

/** etcdctl (API v3) against `url`, run in `ns`, as `cred` if given; never throws. */
export function etcdctl(ns: string, url: string, args: readonly string[], cred?: EtcdCredential): Promise<RunResult> {
  const env = cleanEnv({ ETCDCTL_API: '3', ...(cred ? { ETCDCTL_USER: `${cred.username}:${cred.password}` } : {}) });
  return runIn(ns, 'etcdctl', [`--endpoints=${url}`, '--dial-timeout=2s', '--command-timeout=5s', ...args], { env, timeoutMs: 15000 });
}

async function must(ns: string, url: string, args: readonly string[], cred?: EtcdCredential): Promise<string> {
  const r = await etcdctl(ns, url, args, cred);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout;
}

/** Creates `root` (with the root role) and turns authentication on. Returns root's credential. */
export async function enableEtcdAuth(ns: string, url: string): Promise<EtcdCredential> {
  const root = { username: 'root', password: newPassword() };
  await must(ns, url, ['user', 'add', 'root', `--new-user-password=${root.password}`]);
  await must(ns, url, ['user', 'grant-role', 'root', 'root']);
  await must(ns, url, ['auth', 'enable']);
  return root;
}

/**
 * A user that may only read cluster `cluster`'s keys, made the way an
 * operator makes it: deploy/etcd/remote-reader.sh (a role with READ on
 * /terrace/v1/<cluster>/ only, and the user holding just that role), run as
 * root against the etcd at `url` from namespace `ns`.
 */
export async function addRemoteReader(ns: string, url: string, root: EtcdCredential, cluster: string, username: string): Promise<EtcdCredential> {
  const reader = { username, password: newPassword() };
  const env = cleanEnv({ ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: url, ETCDCTL_USER: `${root.username}:${root.password}`, READER_PASSWORD: reader.password });
  const r = await runIn(ns, 'sh', [REMOTE_READER_SCRIPT, cluster, username], { env, timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`remote-reader.sh ${cluster} ${username} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return reader;
}
