// `terracectl diags`: the archive (read back by the system's tar) and the redaction rules.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { knownSecrets, secretValues, tailFile } from '../src/diags/collect.js';
import { REDACTED, redactValue, scrubText } from '../src/diags/redact.js';
import { safeSegment, tarGz } from '../src/diags/tar.js';
import { defaultDiagsFile } from '../src/commands/diags.js';
import { checkOutFile, writeOutFile } from '../src/diags/outfile.js';

const dir = mkdtempSync(join(tmpdir(), 'diags-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('diags archive', () => {
  it('is a tar.gz that tar lists and extracts byte for byte', () => {
    const big = 'x'.repeat(1500) + '\n';
    const file = join(dir, 'a.tar.gz');
    writeFileSync(file, tarGz([{ name: 'index.json', content: '{}\n' }, { name: 'logs/node-1.log', content: big }, { name: 'empty.txt', content: '' }]));
    expect(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual(['index.json', 'logs/node-1.log', 'empty.txt']);
    const out = join(dir, 'x');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', file, '-C', out]);
    expect(readFileSync(join(out, 'logs/node-1.log'), 'utf8')).toBe(big);
    expect(readFileSync(join(out, 'empty.txt'), 'utf8')).toBe('');
  });

  it('holds names longer than 100 bytes (a 253-character node name) that tar reads back', () => {
    const node = `${'n'.repeat(241)}.example.com`;
    const seg = safeSegment(node);
    expect(seg).toMatch(/^n{187}~[0-9a-f]{12}$/);
    expect(safeSegment(`${node}x`)).not.toBe(seg);
    const long = `nodes/${seg}.status.json`;
    const file = join(dir, 'long.tar.gz');
    writeFileSync(file, tarGz([{ name: long, content: '{"a":1}' }, { name: 'index.json', content: '{}' }]));
    expect(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual([long, 'index.json']);
    const out = join(dir, 'long-x');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', file, '-C', out]);
    expect(readFileSync(join(out, long), 'utf8')).toBe('{"a":1}');
  });

  it('keeps names from etcd inside their directory', () => {
    expect(safeSegment('..')).toBe('%2E%2E');
    expect(safeSegment('../../etc/x')).toBe('..%2F..%2Fetc%2Fx');
    expect(safeSegment('node-1.example')).toBe('node-1.example');
    expect(() => tarGz([{ name: 'nodes/../../x', content: '' }])).toThrow('tar: member name must be relative with no empty, . or .. segment: "nodes/../../x"');
  });

  it('is named after the time by default', () => {
    expect(defaultDiagsFile(new Date('2026-12-07T20:14:03.120Z'))).toBe('terrace-diags-20261207T201403Z.tar.gz');
  });
});

describe('diags redaction', () => {
  it('replaces secret-named values and keeps references to secrets', () => {
    const v = { spec: { password: { secretKeyRef: { name: 'bgp', key: 'tor' } }, etcd: { password: 'hunter22', token: 'abcd1234', endpoints: ['https://e:2379'] } } };
    expect(redactValue(v)).toEqual({ spec: { password: { secretKeyRef: { name: 'bgp', key: 'tor' } }, etcd: { password: REDACTED, token: REDACTED, endpoints: ['https://e:2379'] } } });
  });

  it('scrubs known secret values anywhere and password pairs in log lines', () => {
    const log = [
      '{"level":"info","msg":"peer up","md5":"s3cr3t-md5"}',
      'starting with --etcd-password hunter22 and password=letmein',
      '{"password":"other1"}',
      '{"password":{"secretKeyRef":{"name":"bgp"}}}',
    ].join('\n');
    const out = scrubText(log, ['s3cr3t-md5', 'abc']);
    expect(out).not.toMatch(/s3cr3t-md5|hunter22|letmein|other1/);
    expect(out).toContain('{"password":{"secretKeyRef":{"name":"bgp"}}}');
    // Secrets shorter than 4 characters would blank ordinary words: not replaced.
    expect(scrubText('abc', ['abc'])).toBe('abc');
  });

  it('removes a whole password without knowing it: quoted to the closing quote, unquoted to the end of the token', () => {
    const cases: [string, string][] = [
      ['{"password":"ab,cd}ef"}', '{"password":"<redacted>"}'],
      ['{"password":"sp ace secret"}', '{"password":"<redacted>"}'],
      ['{"password":"p\\"q","next":1}', '{"password":"<redacted>","next":1}'],
      ['login password=hunter2,more then', 'login password=<redacted> then'],
      ['{"md5":"k3y,x"} authKey: zz9', '{"md5":"<redacted>"} authKey: <redacted>'],
      ["password='a b'", "password='<redacted>'"],
    ];
    for (const [line, want] of cases) expect(scrubText(line, [])).toBe(want);
  });

  it('replaces a known secret also where it appears escaped in JSON', () => {
    const secret = 'a"b\\c\nd';
    const line = JSON.stringify({ msg: `dialing with ${secret}` });
    expect(scrubText(line, [secret])).toBe('{"msg":"dialing with <redacted>"}');
  });

  it('learns the values of a node\'s secrets directory and keeps the end of a log', () => {
    const secrets = join(dir, 'secrets');
    mkdirSync(join(secrets, 'bgp'), { recursive: true });
    writeFileSync(join(secrets, 'bgp', 'tor'), 'md5-value-1\n');
    expect(secretValues(secrets)).toEqual(['md5-value-1']);
    const log = join(dir, 'agent.log');
    writeFileSync(log, 'first line\nsecond line\nthird line\n');
    expect(tailFile(log, 16)).toBe('third line\n');
    expect(tailFile(log)).toBe('first line\nsecond line\nthird line\n');
  });

  it('refuses, in one line, a secrets directory it cannot read', () => {
    const base = { logs: [], journal: [], clientVersion: '0', progress: () => undefined };
    expect(() => knownSecrets({ ...base, secretsDirs: [join(dir, 'missing')] })).toThrow(/^--secrets-dir \/.*\/missing: cannot read it \(ENOENT/);
    expect(knownSecrets({ ...base, secretsDirs: [], etcdPassword: 'pw-1234' })).toEqual(['pw-1234']);
  });
});

describe('diags output file', () => {
  it('refuses a path it cannot write before collecting anything, in one line', () => {
    const missing = join(dir, 'no-such-dir');
    expect(() => checkOutFile(join(missing, 'd.tar.gz'))).toThrow(`diags: cannot write ${missing}/d.tar.gz: directory ${missing}: ENOENT`);
    expect(() => checkOutFile(dir)).toThrow(`diags: cannot write ${dir}: it is a directory`);
    expect(() => checkOutFile(join(dir, 'fresh.tar.gz'))).not.toThrow();
  });

  it('writes the tarball 0600 even over an existing file of another mode', () => {
    const file = join(dir, 'old.tar.gz');
    writeFileSync(file, 'old', { mode: 0o644 });
    writeOutFile(file, new Uint8Array([1, 2, 3]));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
  });
});
