/**
 * The controller's status page in headless Chromium, run inside the lab's
 * fabric namespace: nodes with their blocks, the BGP sessions graph (a
 * reflector, a BIRD node, the ToR) coloured by state, pools and events; a
 * node that joins appears and a node that dies is reported without a
 * reload. A screenshot goes into the run's temporary directory (and, with
 * TERRACE_STATUS_SCREENSHOT=<file>, also there: how docs/img/status-page.png
 * is made).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { STATUS_URL, TOR_IP, TerraceLab, destroyLab, launchBrowserIn } from '../src/index.js';

let lab: TerraceLab;
let browser: Browser | undefined;
let page: Page;

/** Waits for the graph's edge between two vertices in `state`. A vertical line has no width, so "attached", not "visible". */
async function waitEdge(a: string, b: string, timeout: number, state = 'Established'): Promise<void> {
  const [x, y] = [a, b].sort() as [string, string];
  await page.waitForSelector(`#graph path[data-session="${x}|${y}"][data-state="${state}"]`, { state: 'attached', timeout });
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [2], reflectors: [1], controllerGrace: '5s', torNeighbors: 4 });
  await lab.addPod('node-1', 'a');
  await lab.addPod('node-2', 'b');
  await lab.addPod('node-3', 'c');
  browser = await launchBrowserIn(lab.fabricNs, lab.tmp);
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 180000);

afterAll(async () => {
  await browser?.close();
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('status page', () => {
  test('shows the nodes with their blocks, the sessions graph with states, the pools', async () => {
    await page.goto(STATUS_URL);
    await page.waitForSelector('#live.on', { timeout: 20000 });
    for (const n of ['node-1', 'node-2', 'node-3']) await page.waitForSelector(`#nodes tr[data-node="${n}"][data-alive="true"]`, { timeout: 20000 });
    expect(await page.textContent('#nodes tr[data-node="node-2"]')).toContain('bird');
    // Each node's pod took a block of lab-a, drawn with its use.
    for (const n of ['node-1', 'node-2', 'node-3']) expect(await page.locator(`#nodes tr[data-node="${n}"] [data-block]`).count()).toBeGreaterThan(0);
    // The reflector, the ToR, and one edge per session (both ends reporting), all Established.
    await page.waitForSelector('#graph g.vertex.reflector[data-vertex="node:node-1"]', { timeout: 20000 });
    await page.waitForSelector(`#graph g.vertex.external[data-vertex="peer:${TOR_IP}"]`, { timeout: 20000 });
    for (const n of ['node-1', 'node-2', 'node-3']) await waitEdge(`node:${n}`, `peer:${TOR_IP}`, 30000);
    for (const n of ['node-2', 'node-3']) await waitEdge('node:node-1', `node:${n}`, 30000);
    // Clients peer with the reflector only: no edge between them.
    expect(await page.locator('#graph path[data-session="node:node-2|node:node-3"]').count()).toBe(0);
    expect(await page.locator('#pools tr[data-pool="lab-a"]').textContent()).toContain('198.19.0.0/17');
    await page.waitForSelector('#pools tr[data-pool="lab-b"]');
    // The same state as JSON, fetched by the page's own origin.
    const state = (await page.evaluate(async () => (await fetch('/api/state')).json())) as { cluster: string; sessions: unknown[] };
    expect(state.cluster).toBe('lab');
    expect(state.sessions).toHaveLength(5);
  }, 90000);

  test('a node that joins appears, with its sessions, without a reload', async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    await lab.addNode(4);
    await page.waitForSelector('#nodes tr[data-node="node-4"]', { timeout: 60000 });
    await waitEdge('node:node-1', 'node:node-4', 60000);
    await waitEdge('node:node-4', `peer:${TOR_IP}`, 60000);
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  }, 90000);

  test('a node that dies is reported as lost, then its addresses freed, without a reload', async () => {
    await lab.killNode('node-3');
    // Lease (3 s), then the controller records the loss; after the grace (5 s) it frees the pod's address.
    await page.waitForSelector('#events li[data-kind="node lost"]:has-text("node-3")', { timeout: 60000 });
    await page.waitForSelector('#events li[data-kind="addresses freed"]:has-text("node-3")', { timeout: 60000 });
    await page.waitForSelector('#nodes tr[data-node="node-3"][data-alive="false"]', { timeout: 20000 }).catch(async () => {
      // Once released with no block left, the node may have left the table altogether.
      expect(await page.locator('#nodes tr[data-node="node-3"]').count()).toBe(0);
    });
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    // The survivors keep their sessions with the ToR.
    for (const n of ['node-1', 'node-2', 'node-4']) await waitEdge(`node:${n}`, `peer:${TOR_IP}`, 20000);
    const shot = join(lab.tmp, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    const keep = process.env.TERRACE_STATUS_SCREENSHOT;
    if (keep) copyFileSync(shot, keep);
  }, 120000);
});
