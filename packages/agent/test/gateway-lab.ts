/**
 * The lab the remote-cluster gateway tests share: one namespace per node on
 * one fabric bridge, each with a GoBGP or BIRD speaker (not started), killed
 * by PID if the test process dies, and everything removed afterwards.
 */
import { expect } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdSpeaker, type BgpSpeaker, GobgpSpeaker } from '@terrace/bgp';
import { createLab, listNamespaces, onProcessExit, type Lab } from '@terrace/testkit';

export interface GatewayLab<K extends string> {
  lab: Lab;
  dir: string;
  sp: Record<K, BgpSpeaker>;
  /** Every speaker's reported error, `<node>: <message>`. */
  errors: string[];
}

/** Namespaces on one /24 fabric at `addr`, a speaker of `backendOf(name)` in each. */
export async function gatewayLab<K extends string>(tag: string, addr: Record<K, string>, backendOf: (name: K) => 'gobgp' | 'bird'): Promise<GatewayLab<K>> {
  const lab = await createLab({ tag });
  const dir = mkdtempSync(join(tmpdir(), `terrace-${tag}-`));
  const sp = {} as Record<K, BgpSpeaker>;
  const errors: string[] = [];
  onProcessExit(() => {
    for (const s of Object.values<BgpSpeaker>(sp)) {
      const pid = s.daemonPid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const fabric = await lab.addBridge('fabric');
  for (const name of Object.keys(addr) as K[]) {
    const ns = await lab.addNamespace(name);
    await lab.connect(ns, fabric, `${addr[name]}/24`);
    const onError = (e: Error): void => {
      errors.push(`${name}: ${e.message}`);
    };
    sp[name] =
      backendOf(name) === 'gobgp'
        ? new GobgpSpeaker({ daemon: { netns: ns, apiAddress: `unix://${join(dir, `${name}.sock`)}`, initialBackoffMs: 100 }, resyncMs: 2000, onError })
        : new BirdSpeaker({ daemon: { configPath: join(dir, `${name}.conf`), socketPath: join(dir, `${name}.ctl`), netns: ns }, pollMs: 200, onError });
  }
  return { lab, dir, sp, errors };
}

/** Stops the speakers, removes the lab, and checks no namespace of it is left. */
export async function closeGatewayLab<K extends string>(g: GatewayLab<K> | undefined): Promise<void> {
  if (!g) return;
  for (const s of Object.values<BgpSpeaker>(g.sp)) await s.stop().catch(() => undefined);
  const prefix = g.lab.prefix;
  await g.lab.destroy();
  rmSync(g.dir, { recursive: true, force: true });
  expect(await listNamespaces(prefix)).toEqual([]);
}
