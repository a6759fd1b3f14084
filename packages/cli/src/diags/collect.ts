/**
 * What `terracectl diags` puts in its tarball, read from etcd (and, for
 * agent logs, from files or journald on the host it runs on). Each part is
 * read on its own: a part that fails is listed in `errors.txt` and the rest
 * is still collected, since diags runs when things are broken. Every member
 * goes through redact.ts before it is written.
 *
 * Agent logs: the agents log to stdout (journald under systemd, the
 * container log in Kubernetes); diags reads what the operator points it at
 * (`--log NODE=FILE`, `--journal UNIT` on a node) rather than asking agents
 * over etcd, because the logs that matter most are those of an agent that
 * is down or cut off from etcd, which could not answer.
 */
import { execFile } from 'node:child_process';
import { openSync, readSync, fstatSync, closeSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { KINDS, TerraceError } from '@terrace/api';
import type { Datastore } from '../context.js';
import { redactValue, scrubText } from './redact.js';
import { safeSegment, type TarMember } from './tar.js';

/** The most of each log kept: the end of the file, where the recent lines are. */
export const LOG_TAIL_BYTES = 2 * 1024 * 1024;
/** Lines asked of journald per unit. */
export const JOURNAL_LINES = 5000;

export interface DiagsOptions {
  /** `NODE=FILE` or `FILE` (named after the file): agent logs to include. */
  logs: string[];
  /** systemd units whose journal to include (on the host diags runs on). */
  journal: string[];
  /** Agents' or the controller's --secrets-dir: their files' contents are scrubbed wherever they appear, never included. */
  secretsDirs: string[];
  /** The etcd password in use (scrubbed too). */
  etcdPassword?: string;
  clientVersion: string;
  progress: (label: string, done: number, total: number) => void;
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/** The end of a file: at most LOG_TAIL_BYTES, cut at a line start. */
export function tailFile(path: string, max = LOG_TAIL_BYTES): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const text = buf.toString('utf8');
    return len < size ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    closeSync(fd);
  }
}

/** Every file's content under a secrets directory (`<secret>/<key>`, the Kubernetes volume layout). */
export function secretValues(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      const st = statSync(p);
      if (st.isDirectory() && depth < 3) walk(p, depth + 1);
      else if (st.isFile() && st.size < 64 * 1024) out.push(readFileSync(p, 'utf8').trim());
    }
  };
  walk(dir, 0);
  return out.filter((s) => s.length > 0);
}

function logMembers(opts: DiagsOptions): { members: TarMember[]; errors: string[] } {
  const members: TarMember[] = [];
  const errors: string[] = [];
  for (const spec of opts.logs) {
    const eq = spec.indexOf('=');
    const [name, file] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [basename(spec).replace(/\.log$/, ''), spec];
    try {
      members.push({ name: `logs/${safeSegment(name)}.log`, content: tailFile(file) });
    } catch (e) {
      errors.push(`log ${file}: ${(e as Error).message}`);
    }
  }
  return { members, errors };
}

async function journalMembers(units: readonly string[]): Promise<{ members: TarMember[]; errors: string[] }> {
  const run = promisify(execFile);
  const members: TarMember[] = [];
  const errors: string[] = [];
  for (const unit of units) {
    try {
      const { stdout } = await run('journalctl', ['--no-pager', '-o', 'short-iso', '-n', String(JOURNAL_LINES), '-u', unit], { maxBuffer: 64 * 1024 * 1024 });
      members.push({ name: `logs/journal-${safeSegment(unit)}.log`, content: stdout });
    } catch (e) {
      errors.push(`journal of ${unit}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { members, errors };
}

/** The values to scrub, read first: an unreadable secrets directory stops diags before anything is written. */
export function knownSecrets(opts: DiagsOptions): string[] {
  const out = opts.etcdPassword ? [opts.etcdPassword] : [];
  for (const d of opts.secretsDirs) {
    try {
      out.push(...secretValues(d));
    } catch (e) {
      throw new TerraceError('Invalid', `--secrets-dir ${d}: cannot read it (${(e as Error).message}); without its values diags could not remove them`);
    }
  }
  return out;
}

/** Every member of the bundle, already redacted. */
export async function collectDiags(ds: Datastore, opts: DiagsOptions): Promise<TarMember[]> {
  const secrets = knownSecrets(opts);
  const { Allocator } = await import('@terrace/ipam');
  const alloc = new Allocator({ etcd: ds.etcd, keys: ds.keys, cacheTtlMs: 0 });
  const members: TarMember[] = [];
  const errors: string[] = [];
  const parts: [string, () => Promise<void>][] = [
    ...KINDS.map((kind): [string, () => Promise<void>] => [
      `resources ${kind}`,
      async () => {
        const list = await ds.store.list(kind);
        members.push({ name: `resources/${kind}.json`, content: json(list.items) });
      },
    ]),
    ['IPAM summary', async () => {
      members.push({ name: 'ipam/pools.json', content: json(await alloc.poolUsage()) }, { name: 'ipam/blocks.json', content: json(await alloc.blocks()) });
    }],
    ['IPAM check', async () => {
      members.push({ name: 'ipam/check.json', content: json(await alloc.check()) });
    }],
    ['node status', async () => {
      const prefix = ds.keys.statusPrefix();
      for (const [key, text] of Object.entries(await ds.etcd.getAll().prefix(prefix).strings())) members.push({ name: `nodes/${safeSegment(key.slice(prefix.length))}.status.json`, content: text });
      const alive = await ds.etcd.getAll().prefix(ds.keys.alivePrefix()).keys();
      members.push({ name: 'nodes/alive.json', content: json(alive.map((k) => k.slice(ds.keys.alivePrefix().length)).sort()) });
    }],
    ['controller status', async () => {
      const [status, candidates] = await Promise.all([
        ds.etcd.get(ds.keys.controllerStatus()).string(),
        ds.etcd.getAll().prefix(ds.keys.leaderElectionPrefix()).sort('Create', 'Ascend').strings(),
      ]);
      members.push({ name: 'controller/status.json', content: status ?? 'null\n' }, { name: 'controller/candidates.json', content: json(Object.values(candidates)) });
    }],
    ['remote clusters', async () => {
      const prefix = ds.keys.remoteStatePrefix();
      for (const [key, text] of Object.entries(await ds.etcd.getAll().prefix(prefix).strings())) members.push({ name: `multicluster/${safeSegment(key.slice(prefix.length))}.json`, content: text });
      const fence = await ds.etcd.get(ds.keys.fence()).string();
      if (fence !== null) members.push({ name: 'multicluster/fence.json', content: fence });
    }],
    ['versions', async () => {
      const status = await ds.etcd.maintenance.status();
      const nodes = await ds.store.list('Node');
      // Agents do not publish a version; their backend label is what they record about themselves.
      const agents = Object.fromEntries(nodes.items.map((n) => [n.metadata.name, Object.fromEntries(Object.entries(n.metadata.labels ?? {}).filter(([k]) => k.startsWith('terrace.dev/')))]));
      members.push({ name: 'versions.json', content: json({ terracectl: opts.clientVersion, node: process.version, etcd: status.version, agents, agentVersions: 'not recorded by agents' }) });
    }],
  ];
  let done = 0;
  const total = parts.length + 1;
  for (const [label, read] of parts) {
    opts.progress('collecting diagnostics', done++, total);
    try {
      await read();
    } catch (e) {
      errors.push(`${label}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const logs = logMembers(opts);
  const journal = await journalMembers(opts.journal);
  members.push(...logs.members, ...journal.members);
  errors.push(...logs.errors, ...journal.errors);
  opts.progress('collecting diagnostics', total, total);

  const index = {
    cluster: ds.keys.cluster,
    collectedAt: new Date().toISOString(),
    members: members.map((m) => m.name),
    redaction: 'secret-named fields, the etcd password in use, the contents of --secrets-dir files, password=... pairs in logs',
  };
  members.unshift({ name: 'index.json', content: json(index) });
  if (errors.length > 0) members.push({ name: 'errors.txt', content: `${errors.join('\n')}\n` });
  return members.map((m) => ({ name: m.name, content: redactMember(m, secrets) }));
}

/** JSON members are redacted by structure, then every member by text. */
function redactMember(m: TarMember, secrets: readonly string[]): string {
  let text = typeof m.content === 'string' ? m.content : m.content.toString('utf8');
  if (m.name.endsWith('.json')) {
    try {
      text = json(redactValue(JSON.parse(text)));
    } catch {
      // Not JSON after all (a garbled record): the text pass still runs.
    }
  }
  return scrubText(text, secrets);
}
