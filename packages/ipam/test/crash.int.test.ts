// A child process allocating in a loop is killed with SIGKILL at random
// points, over several rounds, while this process allocates beside it.
// Afterwards: no address held twice, block and handle records agree, and
// check() finds what the dead node left, which repair() clears.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { sharedEtcdEndpoint } from '@terrace/testkit';
import { Allocator } from '../src/index.js';
import { type TestCluster, putIpamConfig, putNode, putPool, testCluster } from './fixtures/cluster.js';
import { liveAllocations } from './fixtures/invariants.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 6;

let c: TestCluster;
beforeAll(async () => {
  c = testCluster('crash');
  // Blocks of 4 addresses: the child claims blocks often, so kills land mid-claim.
  await putPool(c, 'v4', '10.50.0.0/20', { blockSize: 30 });
  await putPool(c, 'v6', 'fd00:50::/116', { blockSize: 126 });
  await putIpamConfig(c, { maxBlocksPerHost: 0 });
  await putNode(c, 'steady'); // the dead child's node, "crashy", is never registered
});
afterAll(() => c.close());

function runAndKill(round: number, afterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'fixtures', 'alloc-worker.js'), sharedEtcdEndpoint(), c.keys.cluster, 'crashy', `r${round}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lines = 0;
    let stderr = '';
    let t: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      lines += d.toString().split('\n').length - 1;
      // The clock starts once the child is allocating, not while it loads.
      t ??= setTimeout(() => child.kill('SIGKILL'), afterMs);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`worker exited early (${code}): ${stderr}`));
    });
  });
}

test('SIGKILL mid-allocation leaves nothing that check() and repair() do not clear', async () => {
  const steady = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  let stop = false;
  let n = 0;
  const beside = (async () => {
    while (!stop) {
      const handle = `steady-${n++}`;
      await steady.allocate({ handle, node: 'steady', family: n % 2 ? 4 : 'dual' });
      if (n % 2 === 0) await steady.release({ handle });
    }
  })();
  let besideError: unknown;
  beside.catch((e: unknown) => (besideError = e));
  let allocated = 0;
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // Kill at a random point of the allocation loop.
      allocated += await runAndKill(r, 20 + Math.floor(Math.random() * 500));
      const { problems } = await liveAllocations(c);
      expect(problems).toEqual([]);
    }
  } finally {
    stop = true;
    await beside.catch(() => undefined);
  }
  expect(besideError).toBeUndefined();
  expect(allocated).toBeGreaterThan(0);

  const report = await steady.check();
  console.log(`crash test: ${allocated} allocations by the child over ${ROUNDS} rounds; left behind: ${JSON.stringify(report.summary)}`);
  // Everything the dead node holds is reported: it was never registered.
  const crashy = report.issues.filter((i) => i.node === 'crashy');
  expect(crashy.length).toBeGreaterThan(0);
  expect(report.issues.filter((i) => i.node !== 'crashy' && i.kind !== 'handleWithoutAllocation')).toEqual([]);
  const actions = await steady.repair(report);
  expect(actions.filter((x) => x.outcome !== 'done')).toEqual([]);
  // Blocks that kept addresses while their node's entries were repaired are released on a second pass.
  const second = await steady.check();
  await steady.repair(second);
  expect((await steady.check()).issues).toEqual([]);
  const { byIP, problems } = await liveAllocations(c);
  expect(problems).toEqual([]);
  expect([...byIP.values()].every((h) => h.startsWith('steady-'))).toBe(true);
}, 120000);
