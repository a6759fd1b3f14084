// The plugin as a function of environment and stdin, for everything it
// answers without an agent; a socket path with nothing behind it stands for
// an agent that is down.
import { describe, expect, it } from '@jest/globals';
import { runPlugin } from '../src/plugin/run.js';

const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0' };
const conf = (extra: Record<string, unknown> = {}): Uint8Array =>
  Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'terrace', agentSocket: `/tmp/terrace-nobody-${process.pid}.sock`, ...extra }));

describe('runPlugin', () => {
  it('answers VERSION itself, even with garbage on stdin', async () => {
    const r = await runPlugin({ CNI_COMMAND: 'VERSION' }, Buffer.from('{"cniVersion":"0.4.0"}'));
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    expect((await runPlugin({ CNI_COMMAND: 'VERSION' }, Buffer.from('%%'))).exitCode).toBe(0);
  });

  it('reports code 11 in the config version when the agent is not there', async () => {
    const r = await runPlugin(env, conf());
    expect(r.exitCode).toBe(1);
    const e = JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string };
    expect(e.cniVersion).toBe('1.0.0');
    expect(e.code).toBe(11);
    expect(e.msg).toMatch(/cannot reach the terrace agent/);
  });

  it('reports STATUS as not available (50) when the agent is not there', async () => {
    const r = await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }));
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 50 });
  });

  it('reports 4, 6 and 7 before contacting anyone', async () => {
    expect(JSON.parse((await runPlugin({ CNI_COMMAND: 'ADD' }, conf())).stdout)).toMatchObject({ code: 4, cniVersion: '1.0.0' });
    expect(JSON.parse((await runPlugin(env, Buffer.from('not json'))).stdout)).toMatchObject({ code: 6, cniVersion: '1.1.0' });
    expect(JSON.parse((await runPlugin(env, conf({ type: 'bridge' }))).stdout)).toMatchObject({ code: 7 });
    expect(JSON.parse((await runPlugin(env, conf({ cniVersion: '7.0.0' }))).stdout)).toMatchObject({ code: 1 });
  });
});
