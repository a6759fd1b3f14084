/**
 * CNI_NETNS checked before a pod is wired: the path must exist, be a network
 * namespace, and not be the node's own. A runtime (or a person) that passes
 * the node's namespace would otherwise have the pod's default route replace
 * the node's.
 *
 * Node can stat a path but cannot ask the kernel what kind of namespace a
 * file is (that takes an ioctl, or setns). So this module refuses what is no
 * namespace at all (anything not on nsfs, the namespaces' file system) and
 * the host's own; wirePod's first frame then enters the path in the relay,
 * which the kernel refuses (EINVAL) for a namespace of another kind, before
 * any change is made: podNetnsRefusal turns that into the same error.
 */
import { statSync, type BigIntStats } from 'node:fs';
import { TerraceError } from '@terrace/api';

/** This process's network namespace, as a path. */
export const OWN_NETNS = '/proc/self/ns/net';

function invalid(path: string, why: string): TerraceError {
  return new TerraceError('Invalid', `netns ${path}: ${why}`, { field: 'netns' });
}

/**
 * Throws Invalid (field `netns`), one line, unless `path` is a network
 * namespace other than the host's: `hostNetns` when given (the namespace
 * holding the host ends), else this process's own. Identities are compared by
 * device and inode. Synchronous: a few system calls on /proc, no waiting.
 */
export function checkPodNetns(path: string, hostNetns?: string): void {
  let st: BigIntStats;
  try {
    st = statSync(path, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw invalid(path, 'does not exist');
    throw invalid(path, `cannot be read (${code ?? String(e)})`);
  }
  // Namespace files live on nsfs, all on one device: compare with our own namespace's.
  const own = statSync(OWN_NETNS, { bigint: true });
  if (!st.isFile() || st.dev !== own.dev) throw invalid(path, 'is not a network namespace');
  const host = hostNetns === undefined ? own : statSync(hostNetns, { bigint: true });
  if (host.dev === st.dev && host.ino === st.ino) throw invalid(path, "is the node's own network namespace; refusing to wire a pod into it");
}

/**
 * The error for a pod namespace path the relay could not enter (errno name
 * `code`), or undefined when the errno says nothing about the path.
 */
export function podNetnsRefusal(path: string, code: string): TerraceError | undefined {
  if (code === 'EINVAL') return invalid(path, 'is not a network namespace');
  if (code === 'ENOENT') return invalid(path, 'does not exist');
  return undefined;
}
