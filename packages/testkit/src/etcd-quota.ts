/**
 * Drives a test etcd started with a small --quota-backend-bytes into its
 * NOSPACE alarm and back out, the way an operator would: fill it until etcd
 * refuses a write, then delete the filler, compact, defragment and disarm
 * with etcdctl. Use only on an etcd of the test's own (startEtcd), never the
 * shared one: every suite's writes fail while the alarm is raised.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';

const run = promisify(execFile);

/** 100 kB a key: a 2 MiB quota is full after a few dozen puts. */
const FILLER = 'x'.repeat(100_000);

/** etcdctl (API v3) against `endpoint`; resolves with its output. */
export async function etcdctl(endpoint: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

/**
 * Puts filler under `prefix` until etcd refuses one (at most `maxPuts`);
 * resolves with how many it took and rejects if etcd never refused.
 */
export async function fillUntilNoSpace(etcd: Etcd3, prefix: string, maxPuts = 60): Promise<number> {
  for (let n = 0; n < maxPuts; n++) {
    const ok = await etcd
      .put(`${prefix}${n}`)
      .value(FILLER)
      .exec()
      .then(
        () => true,
        () => false,
      );
    if (!ok) return n;
  }
  throw new Error(`etcd took ${maxPuts} puts of ${FILLER.length} bytes without refusing one: is --quota-backend-bytes small?`);
}

/** The operator's way out of NOSPACE: delete the filler, compact at the current revision, defragment, disarm. */
export async function freeSpace(etcd: Etcd3, endpoint: string, prefix: string): Promise<void> {
  await etcd.delete().prefix(prefix).exec();
  const rev = /"revision":(\d+)/.exec(await etcdctl(endpoint, 'endpoint', 'status', '-w', 'json'))?.[1];
  if (rev === undefined) throw new Error(`etcdctl endpoint status at ${endpoint} named no revision`);
  await etcdctl(endpoint, 'compact', rev);
  await etcdctl(endpoint, 'defrag');
  await etcdctl(endpoint, 'alarm', 'disarm');
}
