/**
 * A BfdManager in a process of its own, for tests that need the peer or the
 * session under test to run on another event loop (a stall, a faked clock).
 *
 *   node bfd-child.js <netns> <peer address> <interval ms> <multiplier>
 *
 * Prints each state change as a JSON line; SIGUSR2 blocks its event loop for
 * STALL_MS (a long synchronous task, as a busy agent has); SIGTERM closes the
 * sessions and exits.
 */
import { BfdManager } from '../src/bfd/manager.js';

const STALL_MS = 800;
const [netns, address, interval, multiplier] = process.argv.slice(2);
const m = new BfdManager({
  netns: netns as string,
  onChange: (c) => process.stdout.write(`${JSON.stringify(c)}\n`),
  onError: (e) => process.stderr.write(`${e.message}\n`),
});
await m.setPeers([{ address: address as string, intervalMs: Number(interval), multiplier: Number(multiplier) }]);
process.stdout.write('ready\n');
process.on('SIGUSR2', () => {
  const until = performance.now() + STALL_MS;
  while (performance.now() < until);
  process.stdout.write('stalled\n');
});
process.on('SIGTERM', () => void m.close().then(() => process.exit(0)));
