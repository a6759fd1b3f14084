/**
 * Who may reach the CNI socket. The socket itself is made 0600, but that
 * protects nothing if someone else can write the directory it lives in:
 * they could remove it and bind their own, and every pod ADD of the node
 * (with its container's netns and config) would go to them, or replace the
 * directory with a symlink before the agent binds. So the agent refuses to
 * start unless the directory is owned by its own user (root) and writable
 * by nobody else. Only the directory that holds the socket is judged; its
 * parents are the operator's (/run is root's on every distribution).
 */
import { lstat, mkdir } from 'node:fs/promises';
import { TerraceError } from '@terrace/api';

export interface DirFacts {
  isDirectory: boolean;
  isSymbolicLink: boolean;
  uid: number;
  /** Permission bits including setuid/setgid/sticky (st_mode & 0o7777). */
  mode: number;
}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

/** Why `dir` may not hold the CNI socket of an agent running as `ownUid`, or undefined when it may. */
export function socketDirProblem(dir: string, facts: DirFacts, ownUid: number): string | undefined {
  if (facts.isSymbolicLink) return `${dir} is a symbolic link; name the real directory`;
  if (!facts.isDirectory) return `${dir} is not a directory`;
  if (facts.uid !== ownUid) return `${dir} is owned by uid ${facts.uid}, not by the agent's user (uid ${ownUid}); chown ${ownUid} ${dir}`;
  const others = facts.mode & 0o022;
  if (others !== 0) {
    const who = others === 0o022 ? 'group and others' : others === 0o020 ? 'its group' : 'others';
    return `${dir} is writable by ${who} (mode ${octal(facts.mode)}), who could replace the socket; chmod go-w ${dir}`;
  }
  return undefined;
}

/** Throws a one-line Invalid error when the socket's directory fails socketDirProblem. */
export async function checkSocketDir(dir: string, ownUid: number = process.getuid?.() ?? 0): Promise<void> {
  let facts: DirFacts;
  try {
    const st = await lstat(dir);
    facts = { isDirectory: st.isDirectory(), isSymbolicLink: st.isSymbolicLink(), uid: st.uid, mode: st.mode & 0o7777 };
  } catch (e) {
    throw new TerraceError('Invalid', `cni socket directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'socketPath' });
  }
  const problem = socketDirProblem(dir, facts, ownUid);
  if (problem) throw new TerraceError('Invalid', `cni socket directory ${problem}`, { field: 'socketPath' });
}

/** Creates the socket's directory (0755) when missing, then checks it: what the agent does first at start. */
export async function prepareSocketDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await checkSocketDir(dir);
}
