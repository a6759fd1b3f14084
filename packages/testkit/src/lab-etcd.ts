/** A one-member etcd inside a lab namespace, for agents and controllers run as processes in the lab. */
import type { Daemon } from './daemons.js';
import { waitFor } from './daemons.js';
import type { Lab } from './netns.js';

/** Starts etcd in `ns`, serving clients on `ip`:2379, and waits until it is healthy. */
export async function startLabEtcd(lab: Lab, ns: string, ip: string, dataDir: string): Promise<Daemon> {
  const url = `http://${ip}:2379`;
  const peer = `http://${ip}:2380`;
  const d = lab.startDaemon(ns, {
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name=lab',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=lab=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=error',
      '--logger=zap',
    ],
  });
  await waitFor(`etcd in ${ns}`, async () => {
    if (!d.running()) throw new Error(`etcd exited: ${d.output()}`);
    await lab.exec(ns, 'curl', ['-fsS', '--max-time', '1', `${url}/health`]);
    return true;
  }, 20000, 100);
  return d;
}
