/**
 * What `make lab` leaves behind for `make lab-down` and for the user, under
 * `.lab/`: `keeper.json` (the detached process that owns the lab, written as
 * soon as it is started), `lab.json` (every namespace, daemon PID and
 * directory of the running lab, written once it is up), `env` (a file to
 * `source`) and `lab.log` (the keeper's output). Rendering is pure, so the
 * env file and the guide are what the state says and nothing else.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A process recorded by PID, with the command line it had: a PID reused by another program is never signalled. */
export interface RecordedProcess {
  name: string;
  pid: number;
  /** /proc/PID/cmdline as read when it was recorded (NUL-separated). */
  cmdline: string;
}

export interface KeeperRecord extends RecordedProcess {
  /** The run's namespace prefix: every namespace of the lab starts with it. */
  prefix: string;
}

export interface KeptNode {
  name: string;
  ns: string;
  ip: string;
  backend: 'gobgp' | 'bird';
  /** BIRD nodes: the sidecar's control socket, for birdc -s. */
  birdCtl?: string;
}

export interface KeptLab {
  prefix: string;
  /** The namespace of the fabric bridge: etcd and the controller run there, every host is one hop away. */
  fabricNs: string;
  etcdEndpoints: string;
  cluster: string;
  tor: { ns: string; ip: string; vtyDir: string };
  nodes: KeptNode[];
  pods: { name: string; node: string; ns: string; ip: string }[];
  statusUrl: string;
  /** Every agent's metrics, then the controller's. */
  metricsUrls: string[];
  daemons: RecordedProcess[];
  /** Directories the lab created outside `.lab/` (its temporary directory, the ToR's run directory). */
  dirs: string[];
}

export const KEEPER_FILE = 'keeper.json';
export const LAB_FILE = 'lab.json';
export const ENV_FILE = 'env';
export const LOG_FILE = 'lab.log';

/** The command line of a running process, or undefined when there is none (or only a zombie). */
export function cmdlineOf(pid: number): string | undefined {
  try {
    const c = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return c === '' ? undefined : c;
  } catch {
    return undefined;
  }
}

/** True while the recorded process still runs the recorded command. */
export function stillRunning(p: RecordedProcess): boolean {
  return cmdlineOf(p.pid) === p.cmdline;
}

export function record(name: string, pid: number): RecordedProcess {
  const cmdline = cmdlineOf(pid);
  if (cmdline === undefined) throw new Error(`${name} (pid ${pid}) is not running`);
  return { name, pid, cmdline };
}

/** Written to a temporary name and renamed, so a reader never sees half a file. */
export function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

export function readJson<T>(dir: string, file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${join(dir, file)}: unreadable (${(e as Error).message}); remove it after checking 'ip netns list' for the lab's namespaces`);
  }
}

/** Single-quoted for sh: nothing in it is expanded. */
function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `.lab/env`: the variables a user sources to reach the lab (every one exported). */
export function renderEnv(lab: KeptLab): string {
  const vars: [string, string][] = [
    ['LAB_PREFIX', lab.prefix],
    ['LAB_FABRIC_NS', lab.fabricNs],
    ['TERRACE_ETCD_ENDPOINTS', lab.etcdEndpoints],
    ['TERRACE_CLUSTER', lab.cluster],
    ['LAB_STATUS_URL', lab.statusUrl],
    ['LAB_METRICS_URLS', lab.metricsUrls.join(' ')],
  ];
  return [
    `# The lab \`make lab\` started (prefix ${lab.prefix}); \`make lab-down\` removes it and this file.`,
    '# Everything is reached from inside LAB_FABRIC_NS, e.g. ip netns exec "$LAB_FABRIC_NS" bin/terracectl get nodes',
    ...vars.map(([k, v]) => `export ${k}=${shQuote(v)}`),
    '',
  ].join('\n');
}

/** What `make lab` prints: how to reach every host, router, pod and page. */
export function renderGuide(lab: KeptLab, envPath: string): string {
  const fx = `ip netns exec ${lab.fabricNs}`;
  const lines = [
    `The lab is up (namespace prefix ${lab.prefix}) and keeps running: \`make lab-down\` removes it, \`make lab\` replaces it.`,
    '',
    `  source ${envPath}    # LAB_PREFIX, LAB_FABRIC_NS, TERRACE_ETCD_ENDPOINTS, TERRACE_CLUSTER, LAB_STATUS_URL, LAB_METRICS_URLS`,
    '',
    `terracectl, curl and a browser run inside ${lab.fabricNs} (the fabric: etcd at ${lab.etcdEndpoints}, the controller, every host one hop away):`,
    `  ${fx} bin/terracectl --etcd-endpoints ${lab.etcdEndpoints} --cluster ${lab.cluster} get nodes`,
    `  ${fx} bin/terracectl node status     # after sourcing the env file, which exports the endpoint and cluster`,
    `  ${fx} curl -s ${lab.statusUrl}        # the status page; a browser: ${fx} chromium --no-sandbox ${lab.statusUrl}`,
    ...lab.metricsUrls.map((u) => `  ${fx} curl -s ${u}`),
    '',
    `top-of-rack router (FRR, ${lab.tor.ip}):`,
    `  ip netns exec ${lab.tor.ns} vtysh --vty_socket ${lab.tor.vtyDir} -c 'show bgp summary'`,
    '',
    'nodes:',
    ...lab.nodes.map((n) =>
      n.backend === 'bird'
        ? `  ${n.name} ${n.ip} (BIRD):  ip netns exec ${n.ns} birdc -s ${n.birdCtl ?? '?'} show protocols`
        : `  ${n.name} ${n.ip} (GoBGP): ip netns exec ${n.ns} gobgp neighbor`,
    ),
    ...lab.nodes.map((n) => `  ip netns exec ${n.ns} ip route    # a shell on ${n.name}: ip netns exec ${n.ns} bash`),
    '',
    'pods:',
    ...lab.pods.map((p) => `  ${p.name} ${p.ip} on ${p.node}:  ip netns exec ${p.ns} ping -c 1 ${lab.pods.find((o) => o.node !== p.node)?.ip ?? p.ip}`),
    '',
  ];
  return lines.join('\n');
}
