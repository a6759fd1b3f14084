// One real etcd shared by every suite of this jest run; suites isolate
// themselves with their own cluster prefix (uniqueCluster()).
import { startEtcd } from '../packages/testkit/dist/src/etcd.js';

export default async function setup() {
  if (process.env.TERRACE_TEST_ETCD) return; // provided from outside
  const etcd = await startEtcd({ name: 'terrace-shared' });
  process.env.TERRACE_TEST_ETCD = etcd.endpoint;
  globalThis.__terraceEtcd = etcd;
}
