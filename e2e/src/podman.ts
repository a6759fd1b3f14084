/**
 * Real podman (4.3, Debian) on a lab node, running containers on a Terrace
 * network through the real CNI plugin and the node's real agent.
 *
 * What it takes to run podman inside a lab node (verified on Debian 12):
 *
 * - Every `ip netns exec` gets a mount namespace of its own. Podman
 *   bind-mounts the container's network namespace under /run/netns in *its*
 *   mount namespace, and the agent (which wires the pod with
 *   `ip link ... netns CNI_NETNS` and `nsenter --net=CNI_NETNS`) must be able
 *   to open that path. So the harness starts one long-lived shell per node
 *   with `ip netns exec` (the "holder"), and runs every podman command, and
 *   the node's agent, inside the holder's mount namespace with
 *   `nsenter --target <holder> --mount` (the network namespace is the node's
 *   either way). They share mounts as on a real host, where runtime and agent
 *   both live in the host's mount namespace.
 * - `ip netns exec` remounts /sys, which crun rejects for cgroups: the holder
 *   puts a tmpfs on /sys/fs/cgroup (in its own mount namespace only) and the
 *   containers.conf says `cgroups = "disabled"`.
 * - Without CAP_SYS_RESOURCE podman cannot raise the container's limits to
 *   its defaults: `default_ulimits` sets lower ones.
 * - Everything podman keeps is private to the run: storage root and runroot,
 *   tmp_dir (with file locks, so no SHM lock segment is shared with other
 *   podman users), the CNI config directory holding one Terrace conflist
 *   (network name unique to the run) and the plugin directory, all named by
 *   a containers.conf passed in CONTAINERS_CONF. Podman still writes outside
 *   them: /var/lib/cni/results (libcni's cache, files named after the
 *   network), /run/crun/<container id> (crun's state) and
 *   /var/lib/containers/cache (the blob info cache of `podman import`).
 *   destroy() removes from those only what this run created.
 * - The image is built offline: a tarball of a rootfs holding busybox-static
 *   and applet symlinks, `podman import`ed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onProcessExit, type Daemon, type Lab } from '@terrace/testkit';
import { cniStateDir } from './cni.js';
import { BIN, cleanEnv, runIn, waitUntil, type RunResult } from './proc.js';

/** The busybox applets the image gets as symlinks. */
export const BUSYBOX_APPLETS = ['sh', 'ash', 'ping', 'ip', 'ifconfig', 'route', 'sleep', 'cat', 'ls', 'echo', 'hostname', 'true', 'false', 'nc', 'wget', 'ps', 'grep', 'env', 'mount'] as const;
export const BUSYBOX = '/bin/busybox';
export const IMAGE = 'localhost/terrace-lab-busybox:latest';

/** Podman 4.3's libcni reads results only up to 1.0.0. */
export const PODMAN_CNI_VERSION = '1.0.0';

const CNI_RESULTS = '/var/lib/cni/results';
const CRUN_STATE = '/run/crun';
const CONTAINERS_CACHE = '/var/lib/containers/cache';

export interface PodmanHostOptions {
  /** The lab kit the node namespace belongs to (the holder is one of its daemons). */
  kit: Lab;
  /** The node's network namespace. */
  ns: string;
  /**
   * A directory for this host and run, created and removed by the harness,
   * that holds everything podman keeps (default: a new one under the system's
   * temporary directory). Keep it short: podman refuses a runroot longer than
   * 50 characters.
   */
  dir?: string;
  /** The CNI network name (the conflist's `name`); part of every IPAM handle. Unique per run. */
  network: string;
  /** The agent's CNI socket on this node. */
  agentSocket: string;
  /** IPv4 pools the network allocates from (default: every pool the node may use). */
  ipv4Pools?: readonly string[];
  /** The conflist's cniVersion (default 1.0.0, what podman 4.3 reads). */
  cniVersion?: string;
}

export interface PodmanContainer {
  name: string;
  id: string;
  /** The address podman reports on the Terrace network. */
  ip: string;
}

/** Text of a file, or undefined. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The containers' limits. Podman's own defaults (1048576 open files and
 * processes) need CAP_SYS_RESOURCE to raise to; lowering is always allowed.
 * Even the caller's own nproc hard limit (96367 here) was refused by crun
 * (EPERM), while 4096 and below work: so small fixed values.
 */
export const CONTAINER_ULIMITS = ['nofile=1024:1024', 'nproc=1024:1024'] as const;

/** Entries of a directory, or none. */
function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Paths under `root` (files and directories, recursively), for telling
 * afterwards what a run created there.
 */
function snapshot(root: string): Set<string> {
  const seen = new Set<string>();
  const walk = (p: string): void => {
    seen.add(p);
    for (const e of list(p)) walk(join(p, e));
  };
  if (existsSync(root)) walk(root);
  return seen;
}

/** Removes what is under `root` now and was not in `before`, deepest first; directories only when empty. */
function removeCreated(root: string, before: Set<string>): void {
  const now = [...snapshot(root)].sort((a, b) => b.length - a.length);
  for (const p of now) {
    if (before.has(p)) continue;
    try {
      rmSync(p, { force: true });
    } catch {
      try {
        rmdirSync(p);
      } catch {
        // not empty (something else uses it) or gone
      }
    }
  }
}

export class PodmanHost {
  readonly containers = new Map<string, PodmanContainer>();
  /** Every container id this host created (also those removed since), for /run/crun. */
  private readonly ids = new Set<string>();
  /** conmon processes of our containers (they leave podman's process tree). */
  private readonly conmons = new Set<number>();
  /** The containers' own first processes (children of those conmons). */
  private readonly inits = new Set<number>();
  /**
   * The containers' network namespace files (/run/netns/netns-UUID). Podman
   * creates the file on /run, which every mount namespace shares, and
   * bind-mounts the namespace on it only in the holder's: a container that
   * podman never removed leaves an empty file in everyone's `ip netns list`.
   */
  private readonly netnsFiles = new Set<string>();
  private destroyed = false;

  private readonly removeHook: () => void;

  private constructor(
    readonly opts: PodmanHostOptions,
    readonly dir: string,
    readonly holder: Daemon,
    private readonly cacheBefore: Set<string>,
    private readonly varLibBefore: Set<string>,
  ) {
    // On an abrupt exit (the kit kills the holder and every daemon first),
    // at least the files go.
    this.removeHook = onProcessExit(() => {
      this.killLeftProcesses();
      this.removeFiles();
    });
  }

  get network(): string {
    return this.opts.network;
  }
  get confPath(): string {
    return join(this.dir, 'containers.conf');
  }
  get cniConfDir(): string {
    return join(this.dir, 'net.d');
  }
  get cniBinDir(): string {
    return join(this.dir, 'cni-bin');
  }

  /**
   * Sets up the private directories and containers.conf, starts the holder
   * shell in the node namespace, and imports the busybox image.
   */
  static async start(opts: PodmanHostOptions): Promise<PodmanHost> {
    if (!existsSync(BUSYBOX)) throw new Error(`podman harness: ${BUSYBOX} missing (busybox-static; run scripts/install-deps.sh)`);
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'tlpod-'));
    if (join(dir, 'runroot').length > 50) throw new Error(`podman harness: ${dir}/runroot is longer than podman's 50 characters`);
    for (const d of ['root', 'runroot', 'tmp', 'net.d', 'cni-bin', 'volumes']) mkdirSync(join(dir, d), { recursive: true });
    symlinkSync(BIN.cni, join(dir, 'cni-bin', 'terrace'));
    const conflist = {
      cniVersion: opts.cniVersion ?? PODMAN_CNI_VERSION,
      name: opts.network,
      plugins: [
        {
          type: 'terrace',
          agentSocket: opts.agentSocket,
          stateDir: cniStateDir(opts.agentSocket),
          timeoutSeconds: 20,
          ipam: { assignIpv4: true, assignIpv6: false, ...(opts.ipv4Pools?.length ? { ipv4Pools: [...opts.ipv4Pools] } : {}) },
        },
      ],
    };
    writeFileSync(join(dir, 'net.d', `10-${opts.network}.conflist`), `${JSON.stringify(conflist, null, 2)}\n`);
    const q = (s: string): string => JSON.stringify(s);
    const conf = [
      '[containers]',
      'cgroups = "disabled"',
      'cgroupns = "host"',
      'pids_limit = 0',
      'log_driver = "k8s-file"',
      `default_ulimits = [${CONTAINER_ULIMITS.map(q).join(', ')}]`,
      '',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = [${q(join(dir, 'cni-bin'))}]`,
      `network_config_dir = ${q(join(dir, 'net.d'))}`,
      `default_network = ${q(opts.network)}`,
      '',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      'lock_type = "file"',
      `tmp_dir = ${q(join(dir, 'tmp'))}`,
      `volume_path = ${q(join(dir, 'volumes'))}`,
      'runtime = "crun"',
      'no_pivot_root = false',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'containers.conf'), conf);

    const cacheBefore = snapshot(CONTAINERS_CACHE);
    const varLibBefore = new Set(['/var/lib/containers', '/var/lib/cni', CNI_RESULTS].filter((p) => existsSync(p)));
    // The holder: a shell in the node namespace whose mount namespace podman
    // and the agent share. A tmpfs over /sys/fs/cgroup (crun refuses the
    // sysfs `ip netns exec` remounted); then it just waits, until stopped by PID.
    const holder = opts.kit.startDaemon(opts.ns, {
      name: `podman-holder@${opts.ns}`,
      command: 'sh',
      args: ['-c', 'mount -t tmpfs -o mode=755 terrace-lab-nocgroup /sys/fs/cgroup && echo holder-ready && exec sleep 2147483647'],
      env: cleanEnv(),
    });
    const host = new PodmanHost(opts, dir, holder, cacheBefore, varLibBefore);
    try {
      await waitUntil(`podman holder shell in ${opts.ns}`, () => {
        if (!holder.running()) throw new Error(`podman holder in ${opts.ns} exited: ${holder.output()}`);
        return holder.output().includes('holder-ready');
      }, 10000, 20);
      await host.importImage();
    } catch (e) {
      await host.destroy();
      throw e;
    }
    return host;
  }

  /** The prefix that runs a program in the holder's mount namespace (and the node's network namespace). */
  enter(): { command: string; args: string[] } {
    return { command: 'nsenter', args: [`--target=${this.holder.pid}`, '--mount', '--net', '--'] };
  }

  private podmanArgs(args: readonly string[]): string[] {
    return [...this.enter().args, 'podman', '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...args];
  }

  /** Runs `podman ARGS` inside the holder's namespaces; never throws for a non-zero exit. */
  async podman(args: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    if (this.destroyed) throw new Error('podman harness: destroyed');
    // CNI_* from our environment would reach the plugin (podman passes CNI_ARGS on).
    return runIn(this.opts.ns, 'nsenter', this.podmanArgs(args), {
      env: cleanEnv({ CONTAINERS_CONF: this.confPath, CONTAINERS_REGISTRIES_CONF: join(this.dir, 'registries.conf') }),
      timeoutMs: opts.timeoutMs ?? 60000,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
  }

  async mustPodman(args: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    const r = await this.podman(args, opts);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} in ${this.opts.ns} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  /** Runs a program (not podman) in the holder's namespaces, e.g. `ip` to look at what podman mounted. */
  exec(cmd: string, args: readonly string[] = []): Promise<RunResult> {
    return runIn(this.opts.ns, 'nsenter', [...this.enter().args, cmd, ...args]);
  }

  private async importImage(): Promise<void> {
    const rootfs = join(this.dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['etc', 'proc', 'sys', 'dev', 'tmp', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    for (const a of BUSYBOX_APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
    // registries.conf with nothing in it: no short name ever resolves to a registry.
    writeFileSync(join(this.dir, 'registries.conf'), 'unqualified-search-registries = []\n');
    const tar = join(this.dir, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
    rmSync(rootfs, { recursive: true, force: true });
    await this.mustPodman(['import', '--change', 'CMD=["/bin/sh"]', '--change', 'ENV=PATH=/bin', tar, IMAGE]);
    rmSync(tar, { force: true });
  }

  /**
   * `podman run -d` of the busybox image on the Terrace network; resolves
   * with the container's id and the address podman reports for it.
   */
  async run(name: string, opts: { ip?: string; cmd?: readonly string[] } = {}): Promise<PodmanContainer> {
    const args = ['run', '-d', '--name', name, '--network', this.network, '--pull', 'never'];
    if (opts.ip) args.push('--ip', opts.ip);
    args.push(IMAGE, ...(opts.cmd ?? ['sleep', '3600']));
    const r = await this.podman(args);
    // Even a failed run may have created the container (and its crun state).
    await this.remember(name);
    if (r.code !== 0) throw new Error(`podman run ${name} in ${this.opts.ns} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    const id = r.stdout.trim().split('\n').pop() ?? '';
    const ip = (await this.mustPodman(['inspect', '--format', `{{(index .NetworkSettings.Networks "${this.network}").IPAddress}}`, name])).trim();
    const c: PodmanContainer = { name, id, ip };
    this.containers.set(name, c);
    return c;
  }

  /** Records a container's id and conmon PID for the clean-up, if it exists. */
  private async remember(name: string): Promise<void> {
    const r = await this.podman(['inspect', '--format', '{{.Id}} {{.State.ConmonPid}} {{.State.Pid}} {{.NetworkSettings.SandboxKey}}', name]);
    if (r.code !== 0) return;
    const [id, conmon, init, sandbox] = r.stdout.trim().split(/\s+/);
    if (id) this.ids.add(id);
    if (sandbox && /^\/run\/netns\/netns-[0-9a-f-]+$/.test(sandbox)) this.netnsFiles.add(sandbox);
    for (const [v, set] of [
      [Number(conmon), this.conmons],
      [Number(init), this.inits],
    ] as const) {
      if (Number.isInteger(v) && v > 0) set.add(v);
    }
  }

  /** Runs a command in a running container (`podman exec`). */
  execIn(name: string, cmd: readonly string[], timeoutMs = 15000): Promise<RunResult> {
    return this.podman(['exec', name, ...cmd], { timeoutMs });
  }

  /** One ICMP echo from the container to `ip`. */
  async ping(name: string, ip: string): Promise<boolean> {
    const r = await this.execIn(name, ['ping', '-c', '1', '-W', '1', ip], 10000);
    return r.code === 0;
  }

  /** `podman rm -f`: podman runs CNI DEL (once: it does not retry a failed DEL) and removes the container. */
  async remove(name: string): Promise<RunResult> {
    await this.remember(name);
    const r = await this.podman(['rm', '-f', '-t', '0', name]);
    this.containers.delete(name);
    return r;
  }

  /**
   * Removes every container, kills what is left of their conmons (by PID,
   * checked to be one of ours), stops the holder, and removes what this run
   * put in its directory and in podman's global ones. Call it before the
   * lab's destroy(), while the agents still take the containers' DELs.
   * Idempotent.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      if (this.holder.running()) {
        const ps = await this.podman(['ps', '-a', '--format', '{{.ID}}']);
        for (const short of ps.stdout.split('\n').filter(Boolean)) await this.remember(short);
        // Each container's DEL goes to the agent, if it runs; podman removes the container either way.
        await this.podman(['rm', '-a', '-f', '-t', '0'], { timeoutMs: 60000 });
      }
    } finally {
      this.destroyed = true;
      this.killLeftProcesses();
      await this.holder.stop(2000);
      this.removeFiles();
      this.removeHook();
    }
  }

  /** Our conmons (their command line names our directory) and the containers under them, by PID. */
  private ourConmons(): number[] {
    return [...this.conmons].filter((pid) => (readText(`/proc/${pid}/cmdline`) ?? '').includes(this.dir));
  }

  /**
   * SIGKILLs what podman could not remove (or what is left when the process
   * exits early): first each container's first process, if its parent is
   * still one of our conmons, then those conmons.
   */
  private killLeftProcesses(): void {
    const conmons = this.ourConmons();
    const kill = (pid: number): void => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    };
    for (const pid of this.inits) {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
      const stat = readText(`/proc/${pid}/stat`) ?? '';
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (conmons.includes(ppid)) kill(pid);
    }
    for (const pid of conmons) kill(pid);
  }

  /**
   * What of this host is still there (for a suite's leak check after
   * destroy()): its directory, libcni results of its network, crun state of
   * its containers, live conmons, a live holder.
   */
  leftovers(): string[] {
    const out: string[] = [];
    if (existsSync(this.dir)) out.push(this.dir);
    for (const f of list(CNI_RESULTS)) if (f.startsWith(`${this.network}-`)) out.push(join(CNI_RESULTS, f));
    for (const id of this.ids) if (existsSync(join(CRUN_STATE, id))) out.push(join(CRUN_STATE, id));
    for (const f of this.netnsFiles) if (existsSync(f)) out.push(f);
    for (const pid of this.ourConmons()) out.push(`conmon pid ${pid}`);
    if (this.holder.running()) out.push(`holder pid ${this.holder.pid}`);
    return out;
  }

  /** What this run left on disk: crun state, libcni results, the blob info cache, the private directory. */
  private removeFiles(): void {
    // Left only by a container podman did not remove. Nothing is mounted on
    // them in this mount namespace; unlinking detaches what is in the holder's.
    for (const f of this.netnsFiles) rmSync(f, { force: true });
    for (const id of this.ids) rmSync(join(CRUN_STATE, id), { recursive: true, force: true });
    for (const f of list(CNI_RESULTS)) if (f.startsWith(`${this.network}-`)) rmSync(join(CNI_RESULTS, f), { force: true });
    removeCreated(CONTAINERS_CACHE, this.cacheBefore);
    // /var/lib/cni/results, /var/lib/cni and /var/lib/containers, if this run made them and left them empty.
    for (const d of [CNI_RESULTS, '/var/lib/cni', '/var/lib/containers']) {
      if (!this.varLibBefore.has(d)) {
        try {
          rmdirSync(d);
        } catch {
          // not there, or in use by someone else
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
