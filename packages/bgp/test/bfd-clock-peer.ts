// One BFD session run by our BfdManager in a process of its own, so that a
// test can give it a wall clock of its own (libfaketime). Run as
// `node bfd-clock-peer.js <peer> <local> <intervalMs> <multiplier>` inside the
// namespace; prints each state change as a JSON line.
import { BfdManager } from '../src/bfd/manager.js';

const [peer, local, interval, multiplier] = process.argv.slice(2);
const m = new BfdManager({
  onChange: (c) => process.stdout.write(`${JSON.stringify(c)}\n`),
  onError: (e) => process.stderr.write(`${e.message}\n`),
});
await m.setPeers([{ address: peer ?? '', localAddress: local ?? '', intervalMs: Number(interval), multiplier: Number(multiplier) }]);
process.on('SIGTERM', () => void m.close().then(() => process.exit(0)));
