// bin/terrace-controller given a bad flag or config file: one line on stderr
// naming the flag or file and why, nothing on stdout, exit 1, before it
// tries etcd. (The agent's test, packages/agent/test/bin-errors.test.ts,
// covers more cases of the same report.)
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const root = new URL('../../../../', import.meta.url).pathname;
const controllerBin = join(root, 'bin/terrace-controller');
const dir = mkdtempSync(join(tmpdir(), 'terrace-controller-flags-'));
const badYaml = join(dir, 'bad.yaml');
writeFileSync(badYaml, 'cluster: [unclosed\n');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function controller(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TERRACE_')) env[k] = v;
  env.TERRACE_ETCD_ENDPOINTS = 'http://127.0.0.1:1';
  const r = spawnSync(process.execPath, [controllerBin, ...args], { env, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('terrace-controller refuses bad flags and config files', () => {
  it.each([
    ['a mistyped flag (commander suggests on a second line)', ['--interva', '5s'], /^terrace-controller: unknown option '--interva' \(Did you mean --interval\?\)$/],
    ['a bad duration', ['--interval', '10'], /^terrace-controller: flag --interval "10" is not a duration/],
    ['a bad log level', ['--log-level', 'loud'], /^terrace-controller: option '--log-level <level>' argument 'loud' is invalid\. Allowed choices are error, warn, info, debug\.$/],
    ['a config file that does not exist', ['--config', join(dir, 'missing.yaml')], /^terrace-controller: flag --config: cannot read config file \S+missing\.yaml: ENOENT \(no such file or directory\)$/],
    ['a config file that is not YAML', ['--config', badYaml], /^terrace-controller: config file \S+bad\.yaml: is not valid YAML: /],
  ])('%s: one line, exit 1', (_what, args, line) => {
    const r = controller(...args);
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
      const r = controller('--metrics-listen', `127.0.0.1:${port}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toBe(`terrace-controller: metrics listen address 127.0.0.1:${port}: address already in use\n`);
    } finally {
      busy.close();
    }
  });
});
