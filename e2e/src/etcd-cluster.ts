/**
 * A multi-member etcd for the lab (LabOptions.etcdMembers): every member in
 * the fabric namespace on an address of its own on the fabric bridge
 * (198.18.0.2, .3, ...; nodes start at .11), so that agents, the controller
 * and terracectl reach all of them and are given every endpoint. Members are
 * killed (SIGKILL, by PID) and started again on their data directory, as a
 * crashed member restarted by its service manager would be.
 */
import { join } from 'node:path';
import type { Daemon, Lab } from '@terrace/testkit';
import { ETCD_IP, FABRIC_PREFIX_LEN } from './plan.js';
import { cleanEnv, runIn, waitUntil } from './proc.js';

/** The most members a lab etcd may have: addresses .2 up to .10 of the fabric. */
export const MAX_ETCD_MEMBERS = 9;

export interface EtcdMember {
  name: string;
  ip: string;
  url: string;
  dataDir: string;
  daemon: Daemon | undefined;
}

/** Member i's (0-based) fabric address: the lab's single-member address first. */
export function etcdMemberIp(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_ETCD_MEMBERS) throw new Error(`lab etcd member ${i}: must be 0-${MAX_ETCD_MEMBERS - 1}`);
  const parts = ETCD_IP.split('.');
  return `${parts.slice(0, 3).join('.')}.${Number(parts[3]) + i}`;
}

export class LabEtcdCluster {
  readonly members: EtcdMember[];

  constructor(
    private readonly kit: Lab,
    readonly ns: string,
    count: number,
    dir: string,
  ) {
    if (!Number.isInteger(count) || count < 1 || count > MAX_ETCD_MEMBERS) throw new Error(`lab etcd: ${count} members: must be 1-${MAX_ETCD_MEMBERS}`);
    this.members = Array.from({ length: count }, (_, i) => {
      const ip = etcdMemberIp(i);
      return { name: `m${i + 1}`, ip, url: `http://${ip}:2379`, dataDir: join(dir, `m${i + 1}`), daemon: undefined };
    });
  }

  /** Every client URL, comma-separated, as `--etcd-endpoints` takes them. */
  get endpoints(): string {
    return this.members.map((m) => m.url).join(',');
  }

  /** Adds the members' addresses (the first is the lab's, added by the lab), starts them all, waits until the cluster is healthy. */
  async start(): Promise<void> {
    for (const m of this.members.slice(1)) await this.kit.addAddress(this.ns, 'br0', `${m.ip}/${FABRIC_PREFIX_LEN}`);
    for (const m of this.members) this.spawn(m);
    await this.waitHealthy(this.members);
  }

  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`lab etcd: no member ${name}`);
    return m;
  }

  private spawn(m: EtcdMember): void {
    const initial = this.members.map((x) => `${x.name}=http://${x.ip}:2380`).join(',');
    // Tracked by PID by the kit, which stops it with the lab. A restarted
    // member finds its data directory and ignores the initial-cluster flags.
    m.daemon = this.kit.startDaemon(this.ns, {
      name: `etcd@${m.name}`,
      command: 'etcd',
      args: [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.url}`,
        `--advertise-client-urls=${m.url}`,
        `--listen-peer-urls=http://${m.ip}:2380`,
        `--initial-advertise-peer-urls=http://${m.ip}:2380`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-token=terrace-lab',
        '--initial-cluster-state=new',
        '--log-level=error',
        '--logger=zap',
      ],
    });
  }

  private async waitHealthy(members: readonly EtcdMember[], timeoutMs = 30000): Promise<void> {
    await waitUntil(`etcd members ${members.map((m) => m.name).join(', ')} healthy`, async () => {
      for (const m of members) {
        if (!m.daemon?.running()) throw new Error(`etcd ${m.name} exited: ${m.daemon?.output() ?? ''}`);
        const r = await runIn(this.ns, 'curl', ['-fsS', '--max-time', '1', `${m.url}/health`]);
        if (r.code !== 0) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  /** `etcdctl endpoint status` over every member that answers: the leader's name, and who answered. */
  async status(): Promise<{ leader: string | undefined; answered: string[] }> {
    const r = await runIn(this.ns, 'etcdctl', ['--endpoints', this.endpoints, '--command-timeout=2s', 'endpoint', 'status', '-w', 'json'], { env: cleanEnv({ ETCDCTL_API: '3' }) });
    let rows: { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[] = [];
    try {
      rows = JSON.parse(r.stdout) as typeof rows;
    } catch {
      rows = [];
    }
    const byUrl = new Map(this.members.map((m) => [m.url, m.name]));
    const answered = rows.map((x) => byUrl.get(x.Endpoint) ?? x.Endpoint);
    // JSON numbers of 64-bit ids lose precision, but equally on both sides.
    const leaderRow = rows.find((x) => String(x.Status.header.member_id) === String(x.Status.leader));
    return { leader: leaderRow ? byUrl.get(leaderRow.Endpoint) : undefined, answered };
  }

  /** Waits until the members that run agree on a leader; returns its name. */
  async leader(timeoutMs = 30000): Promise<string> {
    let name: string | undefined;
    await waitUntil('an etcd leader', async () => {
      name = (await this.status()).leader;
      return name !== undefined;
    }, timeoutMs, 200);
    return name as string;
  }

  /** SIGKILLs a member, by PID, as a crash would. */
  async kill(name: string): Promise<void> {
    const d = this.member(name).daemon;
    if (!d?.running()) throw new Error(`lab etcd: ${name} is not running`);
    process.kill(d.pid, 'SIGKILL');
    await d.exited;
  }

  /** Starts a killed member again on its data directory; resolves once it is healthy. */
  async restart(name: string): Promise<void> {
    const m = this.member(name);
    this.spawn(m);
    await this.waitHealthy([m]);
  }
}
