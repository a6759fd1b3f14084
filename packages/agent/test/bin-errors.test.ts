// bin/terrace-agent given a bad flag or config file: one line on stderr that
// names the flag or file and says why, nothing on stdout, exit 1, and no
// attempt to reach etcd (which would take seconds and exit 2).
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const root = new URL('../../../../', import.meta.url).pathname;
const agentBin = join(root, 'bin/terrace-agent');
const dir = mkdtempSync(join(tmpdir(), 'terrace-agent-flags-'));
const badYaml = join(dir, 'bad.yaml');
writeFileSync(badYaml, 'cluster: [unclosed\n');
const unknownKey = join(dir, 'unknown.yaml');
writeFileSync(unknownKey, 'etcd:\n  endpoint: http://127.0.0.1:2379\n');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The environment without the caller's TERRACE_* settings; an unused endpoint, should anything try it. */
function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TERRACE_')) out[k] = v;
  out.TERRACE_ETCD_ENDPOINTS = 'http://127.0.0.1:1';
  return out;
}

function agent(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [agentBin, ...args], { env: env(), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ok = ['--node-name', 'node-1', '--node-ip', '198.18.0.11/24'];

describe('terrace-agent refuses bad flags and config files', () => {
  it.each([
    ['an unknown flag', ['--bogus', ...ok], /^terrace-agent: unknown option '--bogus'$/],
    ['a mistyped flag (commander suggests on a second line)', ['--node-nam', 'node-1'], /^terrace-agent: unknown option '--node-nam' \(Did you mean --node-name\?\)$/],
    ['a bad duration', [...ok, '--resync-interval', '10'], /^terrace-agent: flag --resync-interval "10" is not a duration/],
    ['a bad log level', [...ok, '--log-level', 'loud'], /^terrace-agent: option '--log-level <level>' argument 'loud' is invalid\. Allowed choices are error, warn, info, debug\.$/],
    ['a bad node name', ['--node-name', 'Node_1', '--node-ip', '198.18.0.11/24'], /^terrace-agent: flag --node-name "Node_1" must be a DNS-1123 subdomain: /],
    ['a config file that does not exist', [...ok, '--config', join(dir, 'missing.yaml')], /^terrace-agent: flag --config: cannot read config file \S+missing\.yaml: ENOENT \(no such file or directory\)$/],
    ['a config file that cannot be read', [...ok, '--config', dir], /^terrace-agent: flag --config: cannot read config file \S+: EISDIR \(/],
    ['a config file that is not YAML', [...ok, '--config', badYaml], /^terrace-agent: config file \S+bad\.yaml: is not valid YAML: .*line 2, column 1$/],
    ['a config file with an unknown key', [...ok, '--config', unknownKey], /^terrace-agent: config file \S+unknown\.yaml: unknown key etcd\.endpoint /],
    ['a bad cluster name', [...ok, '--cluster', 'BAD_'], /^terrace-agent: flag --cluster: cluster name "BAD_" must be a DNS-1123 subdomain/],
  ])('%s: one line, exit 1', (_what, args, line) => {
    const r = agent(...args);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    const lines = r.stderr.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1)).toEqual([expect.stringMatching(line)]);
  });

  it('a metrics address in use: one line naming it, a non-zero exit, before etcd is tried', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = agent(...ok, '--no-cni', '--metrics-listen', `127.0.0.1:${port}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toBe(`terrace-agent: metrics listen address 127.0.0.1:${port}: address already in use\n`);
    } finally {
      busy.close();
    }
  });
});
