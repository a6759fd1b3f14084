/**
 * Pod churn through the real CNI plugin, as a container runtime drives it
 * while the datastore misbehaves: workers spread over the nodes each ADD a
 * handful of pods, then DEL them, cycle after cycle. A call answered with
 * code 11 (try again later) is counted and retried as a runtime does: a
 * failed ADD is torn down with DEL and tried again under a new container ID;
 * a DEL is repeated. Any other failure is recorded. Each worker reuses its
 * pod namespaces (a DEL removes the veth), so the churn costs plugin calls,
 * not namespace creation.
 */
import { randomBytes } from 'node:crypto';
import { callCni, resultIPv4, type CniOutcome } from './cni.js';
import type { LabPod, TerraceLab } from './lab.js';
import { POOL_A } from './plan.js';
import { sleep } from './proc.js';

export interface ChurnOptions {
  workers: number;
  /** Pods each worker holds at once. */
  slots: number;
  /** ADD-all-then-DEL-all cycles; a last round of ADDs follows, whose pods stay. */
  cycles: number;
  /** How long one operation may keep being answered with code 11 before it counts as failed. */
  retryForMs?: number;
}

export interface ChurnReport {
  /** Successful ADDs and DELs. */
  ops: number;
  adds: number;
  dels: number;
  /** Calls answered with code 11, by command. */
  tryAgain: { ADD: number; DEL: number };
  /** Operations that got code 11 at least once and then succeeded. */
  retriedOk: number;
  /** Anything other than success or code 11, or an operation still failing after retryForMs. */
  failures: string[];
  /** An ADD that returned an address a live pod already held. */
  duplicates: string[];
  /** Pods alive at the end (the last round of ADDs). */
  live: LabPod[];
}

/** The report's progress, readable while the churn runs (for a fault timeline keyed on it). */
export interface ChurnProgress {
  ops: number;
  /** performance.now() of the latest successful operation. */
  lastOkAt: number;
}

const TRY_AGAIN = 11;

/** Runs the churn; `progress` is updated as operations succeed. */
export async function cniChurn(lab: TerraceLab, opts: ChurnOptions, progress: ChurnProgress): Promise<ChurnReport> {
  const report: ChurnReport = { ops: 0, adds: 0, dels: 0, tryAgain: { ADD: 0, DEL: 0 }, retriedOk: 0, failures: [], duplicates: [], live: [] };
  const holders = new Map<string, string>();
  const nodes = [...lab.nodes.values()];
  const retryFor = opts.retryForMs ?? 90000;

  const ok = (): void => {
    report.ops++;
    progress.ops = report.ops;
    progress.lastOkAt = performance.now();
  };

  /** One CNI call, repeated while answered with code 11; true when it ended in success. */
  const call = async (what: string, run: () => Promise<CniOutcome>, command: 'ADD' | 'DEL', onTryAgain?: () => Promise<void>): Promise<CniOutcome | undefined> => {
    const until = performance.now() + retryFor;
    let retried = false;
    for (;;) {
      const out = await run();
      if (out.code === 0) {
        if (retried) report.retriedOk++;
        return out;
      }
      const code = out.json?.code;
      if (code !== TRY_AGAIN) {
        report.failures.push(`${command} ${what}: exit ${out.code}, ${JSON.stringify(out.json)} ${out.stderr.trim().slice(0, 300)}`);
        return undefined;
      }
      report.tryAgain[command]++;
      retried = true;
      if (performance.now() > until) {
        report.failures.push(`${command} ${what}: still code 11 after ${retryFor} ms: ${String(out.json?.msg)}`);
        return undefined;
      }
      if (onTryAgain) await onTryAgain();
      await sleep(250);
    }
  };

  const worker = async (w: number): Promise<void> => {
    const node = nodes[w % nodes.length] as (typeof nodes)[number];
    const base = { nodeNs: node.ns, cniPath: lab.cniPath, agentSocket: node.socket };
    const podNs = await Promise.all(Array.from({ length: opts.slots }, (_, s) => lab.kit.addNamespace(`pod-w${w}s${s}`)));
    for (let cycle = 0; cycle <= opts.cycles; cycle++) {
      const pods: LabPod[] = [];
      for (let s = 0; s < opts.slots; s++) {
        const name = `w${w}-s${s}-c${cycle}`;
        const ns = podNs[s] as string;
        let containerId = randomBytes(16).toString('hex');
        const del = (id: string): Promise<CniOutcome> => callCni({ ...base, command: 'DEL', containerId: id, podNs: ns, podName: name });
        const out = await call(name, () => callCni({ ...base, command: 'ADD', containerId, podNs: ns, podName: name, ipv4Pools: [POOL_A.name] }), 'ADD', async () => {
          // The runtime tears the failed sandbox down before trying again.
          const failed = containerId;
          containerId = randomBytes(16).toString('hex');
          await call(`${name} (teardown of a failed ADD)`, () => del(failed), 'DEL');
        });
        if (!out?.json) continue;
        const ip = resultIPv4(out.json);
        const holder = holders.get(ip);
        if (holder !== undefined) report.duplicates.push(`${ip}: ${name} while ${holder} holds it`);
        holders.set(ip, name);
        report.adds++;
        ok();
        pods.push({ name, node: node.name, ns, containerId, ip, result: out.json, addMs: out.ms });
      }
      if (cycle === opts.cycles) {
        report.live.push(...pods);
        break;
      }
      for (const pod of pods) {
        const out = await call(pod.name, () => callCni({ ...base, command: 'DEL', containerId: pod.containerId, podNs: pod.ns, podName: pod.name, prevResult: pod.result }), 'DEL');
        if (!out) continue;
        if (holders.get(pod.ip) === pod.name) holders.delete(pod.ip);
        report.dels++;
        ok();
      }
    }
  };

  await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  return report;
}
