/**
 * Request ids through one CNI call: the real plugin makes the id, the real
 * agent's log lines for that call (the `cni ADD` line and the IPAM lines)
 * all carry it as `req`, and a failed ADD's error, as the runtime gets it,
 * names the same id. A lab of one node (GoBGP) is enough: the id lives in
 * the plugin and the agent, not in BGP.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { callCni, destroyLab, TerraceLab, waitUntil } from '../src/index.js';

let lab: TerraceLab;

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 1 });
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

type LogLine = Record<string, unknown> & { message: string; req?: string };

/** The agent's JSON lines that mention the container (by handle or pod). */
function linesAbout(containerId: string): LogLine[] {
  const out = lab.node('node-1').agent?.output() ?? '';
  return out
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(containerId))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('a request id follows one CNI call from the plugin through the agent to IPAM', () => {
  test('every line of one ADD carries the id the plugin made, and its DEL has an id of its own', async () => {
    const pod = await lab.addPod('node-1', 'a');
    const cid12 = pod.containerId.slice(0, 12);
    const add = linesAbout(pod.containerId);
    expect(add.map((l) => l.message).sort()).toEqual(['cni ADD', 'ipam allocate']);
    const ids = new Set(add.map((l) => l.req));
    expect(ids.size).toBe(1);
    // A digit-only tag is the plugin's PID: the agent's own ids end in `a<n>`.
    const addId = [...ids][0];
    expect(addId).toMatch(new RegExp(`^ADD-${cid12}-\\d+$`));
    expect(add.find((l) => l.message === 'ipam allocate')?.ips).toEqual([pod.ip]);

    await lab.deletePod('a');
    await waitUntil('the DEL lines', () => linesAbout(pod.containerId).some((l) => l.message === 'cni DEL'), 10000);
    const del = linesAbout(pod.containerId).filter((l) => l.req !== addId);
    expect(del.map((l) => l.message).sort()).toEqual(['cni DEL', 'ipam release']);
    expect(new Set(del.map((l) => l.req)).size).toBe(1);
    expect(del[0]?.req).toMatch(new RegExp(`^DEL-${cid12}-\\d+$`));
  }, 60000);

  test('a failed ADD names its id to the runtime, and the agent\'s lines for it carry the same id', async () => {
    const node = lab.node('node-1');
    const ns = await lab.kit.addNamespace('pod-bad');
    const containerId = 'feedc0ffee0123456789';
    const out = await callCni({ command: 'ADD', nodeNs: node.ns, cniPath: lab.cniPath, agentSocket: node.socket, containerId, podNs: ns, podName: 'bad', ipv4Pools: ['no-such-pool'] });
    expect(out.code).toBe(1);
    const details = String(out.json?.details);
    const m = /request (ADD-feedc0ffee01-\d+)$/.exec(details);
    expect(m).not.toBeNull();
    const id = m?.[1];
    const lines = linesAbout(containerId);
    expect(lines.map((l) => l.message).sort()).toEqual(['cni ADD', 'ipam allocate failed']);
    expect(lines.map((l) => l.req)).toEqual([id, id]);
    expect(lines.every((l) => l.level === 'warn')).toBe(true);
    await lab.kit.removeNamespace(ns);
  }, 60000);
});
