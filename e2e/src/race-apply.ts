/**
 * Applies manifests to several clusters at the same moment, as two
 * operators racing each other would, through the product's own write path
 * (EtcdResourceStore.applyAll, which runs the pool guards). One process in
 * one lab namespace holds a warm client per cluster and starts every write
 * together, so the writes land within milliseconds of each other: sooner
 * than any controller can sync one cluster's write into the other's view.
 * (Two terracectl processes start a second apart, by which time the
 * controllers have long synced the first pool and the guard refuses the
 * second: no race at all.)
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EtcdCredential } from './etcd-auth.js';
import { REPO_ROOT, runIn } from './proc.js';

export interface RaceWrite {
  url: string;
  cluster: string;
  cred: EtcdCredential | undefined;
  yaml: string;
}

export interface RaceOutcome {
  ok: boolean;
  /** The write's error message (one line), when it was refused. */
  error?: string;
}

const entry = (pkg: string): string => pathToFileURL(join(REPO_ROOT, 'packages', pkg, 'dist', 'src', 'index.js')).href;

/** The child's program: reads the writes as JSON on stdin, prints the outcomes as JSON. */
function script(): string {
  return `
import { createClient, EtcdResourceStore, Keys } from '${entry('datastore')}';
import { decodeManifests } from '${entry('api')}';
let text = '';
for await (const chunk of process.stdin) text += chunk;
const writes = JSON.parse(text);
const clients = writes.map((w) => createClient({ endpoints: [w.url], cluster: w.cluster, sources: {}, ...(w.cred ? { username: w.cred.username, password: w.cred.password } : {}) }));
// Connections up and authenticated first, so the writes start together.
await Promise.all(clients.map((c, i) => c.get(new Keys(writes[i].cluster).prefix).exec()));
const out = await Promise.all(writes.map(async (w, i) => {
  try {
    await new EtcdResourceStore(clients[i], new Keys(w.cluster)).applyAll(decodeManifests(w.yaml));
    return { ok: true };
  } catch (e) {
    return { ok: false, error: String(e.message).split('\\n')[0] };
  }
}));
for (const c of clients) c.close();
console.log(JSON.stringify(out));
`;
}

/** Runs the writes together from namespace `ns` (which must reach every etcd); one outcome per write, in order. */
export async function applyAtOnce(ns: string, writes: readonly RaceWrite[]): Promise<RaceOutcome[]> {
  const r = await runIn(ns, process.execPath, ['--input-type=module', '-e', script()], { input: JSON.stringify(writes), timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`applyAtOnce exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as RaceOutcome[];
}
