#!/usr/bin/env node
// Cold start of terracectl: the median wall time of `terracectl get ippools`
// (a fresh node process each time, against a real etcd holding a few pools)
// next to the median of `node -e 0`, interleaved so that both see the same
// machine load. Usage: npm run bench -- cli [runs]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../packages/testkit/dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'terracectl');
const runs = Number(process.argv[2] ?? 15);

function timed(args, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const etcd = await startEtcd({ name: 'bench-cli' });
try {
  const pools = [
    ['bench-v4-a', '198.19.0.0/18', 26],
    ['bench-v4-b', '198.19.64.0/18', 26],
    ['bench-v4-c', '198.19.128.0/17', 28],
    ['bench-v6-a', 'fd00:198:19::/48', 122],
    ['bench-v6-b', 'fd00:198:20::/48', 120],
  ]
    .map(([name, cidr, bs]) => `apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {cidr: "${cidr}", blockSize: ${bs}}\n`)
    .join('---\n');
  timed([bin, '--etcd-endpoints', etcd.endpoint, 'apply', '-f', '-'], pools);
  const rows = timed([bin, '--etcd-endpoints', etcd.endpoint, 'get', 'ippools']).stdout.trim().split('\n').length - 1;
  if (rows !== 5) throw new Error(`expected 5 pools in the table, got ${rows}`);

  const get = [];
  const base = [];
  for (let i = 0; i < runs; i++) {
    get.push(timed([bin, '--etcd-endpoints', etcd.endpoint, 'get', 'ippools']).ms);
    base.push(timed(['-e', '0']).ms);
  }
  const round = (x) => Math.round(x * 10) / 10;
  console.log(JSON.stringify({ bench: 'cli', runs, pools: rows, terracectl_get_samples_ms: get.map(round), node_samples_ms: base.map(round) }));
  console.log(JSON.stringify({ bench: 'cli', terracectl_get_ms: Math.round(median(get)), node_baseline_ms: Math.round(median(base)) }));
} finally {
  await etcd.stop();
}
