/**
 * DELs that did not finish: written by the plugin when it could not reach
 * the agent, and by the agent when etcd could not take the release. Each is
 * a folder `<stateDir>/pending-del/del.<id>` holding the call as the runtime
 * made it (the CNI_* variables, one file each, and the network config),
 * complete before it is renamed into place. The agent carries them out when
 * it starts, now and then while any are left, and before an ADD of the same
 * attachment (a runtime re-creating a container under the same id must not
 * have its new address released by the old container's DEL).
 */
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PENDING_DEL_DIR, type InvocationEnv } from '@terrace/cni';

export interface PendingDel {
  /** The folder holding it; removed by done(). */
  path: string;
  env: InvocationEnv;
  config: Uint8Array;
}

/** The variables a recorded DEL keeps, as file names. */
const KEPT = ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS', 'CNI_ARGS'] as const;

export class PendingDels {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, PENDING_DEL_DIR);
  }

  /** Every recorded DEL, oldest name first; an unreadable one is skipped (and reported by `broken`). */
  async list(broken?: (path: string, why: string) => void): Promise<PendingDel[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.startsWith('del.')).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: PendingDel[] = [];
    for (const n of names) {
      const path = join(this.dir, n);
      try {
        const env: InvocationEnv = { CNI_COMMAND: 'DEL' };
        for (const k of KEPT) {
          const v = await readFile(join(path, k), 'utf8').catch((e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT') return '';
            throw e;
          });
          if (v !== '') env[k] = v;
        }
        out.push({ path, env, config: await readFile(join(path, 'config')) });
      } catch (e) {
        // Vanished meanwhile (another drain finished it) or unreadable.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') broken?.(path, (e as Error).message);
      }
    }
    return out;
  }

  /** Records a DEL the agent could not finish. */
  async record(env: InvocationEnv, config: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = await mkdtemp(join(this.dir, '.new.'));
    try {
      for (const k of KEPT) await writeFile(join(tmp, k), env[k] ?? '', { mode: 0o600 });
      await writeFile(join(tmp, 'config'), config, { mode: 0o600 });
      await rename(tmp, join(this.dir, `del.${Date.now().toString(36)}.${tmp.slice(-6)}`));
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  async done(p: PendingDel): Promise<void> {
    await rm(p.path, { recursive: true, force: true });
  }
}
