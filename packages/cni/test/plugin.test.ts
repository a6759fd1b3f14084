// The plugin itself (bin/terrace-cni, a shell script), run as a runtime runs
// it: what it answers on its own, with no agent behind the socket. What it
// forwards and prints when the agent answers is tested against the real
// agent in packages/agent/test/cni.int.test.ts.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCniPlugin, type PluginRun } from '@terrace/testkit';
import { SUPPORTED_VERSIONS } from '../src/index.js';

const PLUGIN = fileURLToPath(new URL('../../bin/terrace-cni', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-plugin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (env: Record<string, string>, stdin: string): Promise<PluginRun> => runCniPlugin(PLUGIN, env, stdin);

const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'terrace', agentSocket: join(dir, 'nobody.sock'), stateDir: join(dir, 'state'), ...extra });

const pod = { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/x' };

describe('terrace-cni on its own', () => {
  it('answers VERSION itself, in the version the config names', async () => {
    const v = await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(v).toMatchObject({ code: 0, json: { cniVersion: '0.4.0', supportedVersions: [...SUPPORTED_VERSIONS] } });
    expect((await run({ CNI_COMMAND: 'VERSION' }, '')).json).toMatchObject({ cniVersion: '1.1.0' });
    expect((await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"9.9.9"}')).json).toMatchObject({ cniVersion: '1.1.0' });
  });

  it('answers 11 naming the socket when the agent is not there, and 50 for STATUS', async () => {
    const add = await run({ CNI_COMMAND: 'ADD', ...pod }, conf());
    expect(add.code).toBe(1);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: `cannot reach terrace-agent at ${join(dir, 'nobody.sock')} (is it running on this node?)`,
      details: expect.stringMatching(/^request ADD-c1-\d+$/),
    });
    expect((await run({ CNI_COMMAND: 'CHECK', ...pod }, conf())).json).toMatchObject({ code: 11 });
    expect((await run({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }))).json).toMatchObject({ code: 50 });
  });

  it('names its request in every error: command, the container id\'s first 12 characters, its PID; none for what is not plain', async () => {
    const long = await run({ CNI_COMMAND: 'CHECK', ...pod, CNI_CONTAINERID: '0123456789abcdef0123' }, conf());
    expect(long.json).toMatchObject({ code: 11, details: expect.stringMatching(/^request CHECK-0123456789ab-\d+$/) });
    const odd = await run({ CNI_COMMAND: 'ADD', ...pod, CNI_CONTAINERID: 'a"b c' }, conf());
    expect(odd.json).toMatchObject({ code: 11, details: expect.stringMatching(/^request ADD-none-\d+$/) });
    const none = await run({ CNI_COMMAND: 'ADD', ...pod, CNI_CONTAINERID: '' }, conf());
    expect(none.json).toMatchObject({ code: 11, details: expect.stringMatching(/^request ADD-none-\d+$/) });
  });

  it('records a DEL it could not deliver, exactly as the runtime made it', async () => {
    const args = 'IgnoreUnknown=1;K8S_POD_NAME=a;b=c d';
    const config = conf({ args: { x: 'quote " and \\ backslash' } });
    const del = await run({ CNI_COMMAND: 'DEL', ...pod, CNI_ARGS: args }, config);
    expect(del.code).toBe(1);
    expect(del.json).toMatchObject({ code: 11, msg: expect.stringContaining('the DEL is recorded') });
    const pending = join(dir, 'state', 'pending-del');
    const entries = readdirSync(pending);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^del\./);
    const at = join(pending, entries[0]!);
    const read = (f: string): string => readFileSync(join(at, f), 'utf8');
    expect([read('CNI_CONTAINERID'), read('CNI_IFNAME'), read('CNI_NETNS'), read('CNI_ARGS'), read('config')]).toEqual([
      'c1',
      'eth0',
      '/var/run/netns/x',
      args,
      config,
    ]);
    rmSync(pending, { recursive: true });
  });

  it('says so when a DEL cannot be recorded either', async () => {
    const blocked = join(dir, 'file-not-dir');
    writeFileSync(blocked, '');
    const del = await run({ CNI_COMMAND: 'DEL', ...pod }, conf({ stateDir: blocked }));
    expect(del.json).toMatchObject({ code: 11, msg: expect.stringContaining('could not be recorded') });
  });

  it('prints valid JSON whatever the paths in the config hold', async () => {
    const add = await run({ CNI_COMMAND: 'ADD', ...pod }, conf({ agentSocket: '/tmp/a"b\\c.sock' }));
    expect(add.json).toMatchObject({ code: 11, msg: expect.stringContaining('/run/terrace/cni.sock') });
  });

  it('gives up after timeoutSeconds when the agent accepts but never answers', async () => {
    const sock = join(dir, 'silent.sock');
    const held: Array<{ destroy(): void }> = [];
    const srv: Server = createServer((c) => held.push(c));
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      const add = await run({ CNI_COMMAND: 'ADD', ...pod }, conf({ agentSocket: sock, timeoutSeconds: 1 }));
      expect(add.json).toMatchObject({ code: 11, msg: `no answer from terrace-agent at ${sock} within 1 s` });
      expect(add.ms).toBeLessThan(5000);
    } finally {
      for (const c of held) c.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

});
