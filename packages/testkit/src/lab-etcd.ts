/** A one-member etcd inside a lab namespace, for agents run as processes in the lab. */
import type { Daemon } from './daemons.js';
import { waitFor } from './daemons.js';
import type { Lab } from './netns.js';

/** Starts etcd in `ns`, serving clients on `ip`:2379, and waits until it is healthy. */
export async function startLabEtcd(lab: Lab, ns: string, ip: string, dataDir: string): Promise<Daemon> {
  const endpoint = `http://${ip}:2379`;
  const d = lab.startDaemon(ns, {
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name=lab',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=lab=http://127.0.0.1:2380',
      '--log-level=error',
      '--logger=zap',
    ],
  });
  // etcdctl reports health on stderr; its exit status is what counts.
  await waitFor('lab etcd', async () => Boolean(await lab.exec(ns, 'etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'])), 20000, 200);
  return d;
}
