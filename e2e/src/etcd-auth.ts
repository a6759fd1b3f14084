/**
 * etcd users and roles for the lab, with the real etcdctl inside the etcd's
 * namespace: a root user for the cluster's own daemons, and read-only users
 * whose one role may read a single key prefix (what a remote cluster's
 * controller gets). Passwords are per run and never leave the run's files.
 */
import { randomBytes } from 'node:crypto';
import { cleanEnv, runIn, type RunResult } from './proc.js';

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
 * A user that may only read keys under `prefix`: role `role` with READ on the
 * prefix, granted to `username`. Needs root (auth is on).
 */
export async function addPrefixReader(ns: string, url: string, root: EtcdCredential, username: string, role: string, prefix: string): Promise<EtcdCredential> {
  const reader = { username, password: newPassword() };
  await must(ns, url, ['role', 'add', role], root);
  await must(ns, url, ['role', 'grant-permission', role, 'read', prefix, '--prefix=true'], root);
  await must(ns, url, ['user', 'add', username, `--new-user-password=${reader.password}`], root);
  await must(ns, url, ['user', 'grant-role', username, role], root);
  return reader;
}
