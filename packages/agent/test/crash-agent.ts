// A CNI-serving agent process for the crash test: real allocator against a
// real etcd, real pod wiring. Run as `node crash-agent.js '<json options>'`;
// TERRACE_FAULT in its environment chooses where an ADD stops. Prints
// `serving` once the socket answers.
import { Keys, createClient } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { allocatorIpam, startCniServer } from '../src/cni/index.js';

interface Options {
  endpoint: string;
  cluster: string;
  socket: string;
  stateDir: string;
  hostNetns: string;
  node: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const keys = new Keys(o.cluster);
const etcd = createClient({ endpoints: [o.endpoint], cluster: o.cluster, sources: {} }, { timeoutMs: 3000 });
const server = await startCniServer({
  socketPath: o.socket,
  ipam: allocatorIpam(new Allocator({ etcd, keys, cacheTtlMs: 0 })),
  nodeName: o.node,
  stateDir: o.stateDir,
  hostNetns: o.hostNetns,
  datastoreReady: () => undefined,
  bgpReady: () => undefined,
});
process.stdout.write('serving\n');
const bye = (): void => void server.close().finally(() => process.exit(0));
process.on('SIGTERM', bye);
