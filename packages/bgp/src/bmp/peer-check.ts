/**
 * Is the process on the other end of a loopback TCP connection the one we
 * expect? The station listens on 127.0.0.1, where any local process could
 * connect and, once accepted, feed routes into the kernel. When we supervise
 * gobgpd we know its PID, and Linux tells which process holds which socket:
 * the connection's source port names a line of /proc/PID/net/tcp (the table
 * of gobgpd's own network namespace), whose inode must be one of the
 * process's open file descriptors.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

/** The inode of the IPv4 TCP socket bound to 127.0.0.1:`localPort` and connected to port `remotePort`, from a /proc/net/tcp text. */
export function socketInode(procNetTcp: string, localPort: number, remotePort: number): string | undefined {
  const local = `0100007F:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of procNetTcp.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f[1] === local && f[2]?.endsWith(remote)) return f[9];
  }
  return undefined;
}

/** True when process `pid` holds the TCP socket from 127.0.0.1:`peerPort` to our `ourPort`. */
export async function heldBy(pid: number, peerPort: number, ourPort: number): Promise<boolean> {
  try {
    const inode = socketInode(await readFile(`/proc/${pid}/net/tcp`, 'utf8'), peerPort, ourPort);
    if (inode === undefined || inode === '0') return false;
    const want = `socket:[${inode}]`;
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === want) return true;
    }
    return false;
  } catch {
    return false;
  }
}
