/**
 * The plugin's environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS, CNI_PATH), parsed and checked once. Anything wrong
 * here is the spec's code 4 and names the variable.
 */
import { CNI_COMMANDS, CniCode, CniError, shown, type CniCommand } from './spec.js';

export interface CniEnv {
  command: CniCommand;
  /** Empty for VERSION, GC and STATUS. */
  containerId: string;
  /** A namespace path; empty when the runtime gave none (allowed for DEL). */
  netns: string;
  /** Empty for VERSION, GC and STATUS. */
  ifname: string;
  /** CNI_ARGS pairs in the order given. */
  args: Array<[string, string]>;
  path: string;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The kernel's limit (IFNAMSIZ - 1) and the characters `ip` would misread. */
export function ifnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'may not be "." or ".."';
  if (/[/:\s%]/.test(name)) return 'may not contain "/", ":", "%" or whitespace';
  return undefined;
}

/** Splits `K=V;K2=V2`. An empty string is no arguments. */
export function parseCniArgs(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of s.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS: ${shown(part)} is not KEY=VALUE`);
    out.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  return out;
}

/** The last value of a CNI_ARGS key, as runtimes expect later pairs to win. */
export function cniArg(args: ReadonlyArray<readonly [string, string]>, key: string): string | undefined {
  let v: string | undefined;
  for (const [k, val] of args) if (k === key) v = val;
  return v;
}

function bad(variable: string, reason: string): CniError {
  return new CniError(CniCode.InvalidEnvironment, `${variable} ${reason}`);
}

export function parseEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const cmd = env.CNI_COMMAND;
  if (cmd === undefined || cmd === '') throw bad('CNI_COMMAND', 'is not set');
  if (!(CNI_COMMANDS as readonly string[]).includes(cmd)) {
    throw bad('CNI_COMMAND', `${shown(cmd)} is not one of ${CNI_COMMANDS.join(', ')}`);
  }
  const command = cmd as CniCommand;
  const perContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  let containerId = '';
  let ifname = '';
  let netns = '';
  if (perContainer) {
    containerId = env.CNI_CONTAINERID ?? '';
    if (containerId === '') throw bad('CNI_CONTAINERID', 'is not set');
    if (!CONTAINER_ID.test(containerId)) {
      throw bad('CNI_CONTAINERID', `${shown(containerId)} may hold only letters, digits, "_", "." and "-" and must start with a letter or digit`);
    }
    ifname = env.CNI_IFNAME ?? '';
    if (ifname === '') throw bad('CNI_IFNAME', 'is not set');
    const p = ifnameProblem(ifname);
    if (p) throw bad('CNI_IFNAME', `${shown(ifname)} ${p}`);
    netns = env.CNI_NETNS ?? '';
    // DEL must work after the namespace is gone, so only ADD and CHECK need one.
    if (netns === '' && command !== 'DEL') throw bad('CNI_NETNS', 'is not set');
    if (netns !== '' && !netns.startsWith('/')) throw bad('CNI_NETNS', `${shown(netns)} is not an absolute path`);
  }
  const args = parseCniArgs(env.CNI_ARGS ?? '');
  return { command, containerId, netns, ifname, args, path: env.CNI_PATH ?? '' };
}
