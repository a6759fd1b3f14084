import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSocketDir, socketDirProblem } from '../src/cni/socket-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'terrace-sockdir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sub(name: string, mode: number, uid = 0): string {
  const p = join(dir, name);
  mkdirSync(p);
  chmodSync(p, mode);
  chownSync(p, uid, 0);
  return p;
}

describe('socketDirProblem', () => {
  const facts = { isDirectory: true, isSymbolicLink: false, uid: 0, mode: 0o755 };
  it('accepts a directory only its owner, the agent, can write', () => {
    expect(socketDirProblem('/run/terrace', facts, 0)).toBeUndefined();
    expect(socketDirProblem('/run/terrace', { ...facts, mode: 0o700 }, 0)).toBeUndefined();
  });
  it.each<[string, Partial<typeof facts>, string]>([
    ['world-writable', { mode: 0o777 }, '/run/t is writable by group and others (mode 0777), who could replace the socket; chmod go-w /run/t'],
    ['sticky like /tmp', { mode: 0o1777 }, '/run/t is writable by group and others (mode 1777), who could replace the socket; chmod go-w /run/t'],
    ['group-writable', { mode: 0o775 }, '/run/t is writable by its group (mode 0775), who could replace the socket; chmod go-w /run/t'],
    ['others-writable', { mode: 0o757 }, '/run/t is writable by others (mode 0757), who could replace the socket; chmod go-w /run/t'],
    ['owned by another user', { uid: 1000 }, "/run/t is owned by uid 1000, not by the agent's user (uid 0); chown 0 /run/t"],
    ['not a directory', { isDirectory: false }, '/run/t is not a directory'],
    ['a symlink', { isSymbolicLink: true }, '/run/t is a symbolic link; name the real directory'],
  ])('refuses a directory that is %s', (_name, change, why) => {
    expect(socketDirProblem('/run/t', { ...facts, ...change }, 0)).toBe(why);
  });
});

describe('checkSocketDir on real directories', () => {
  it('passes a root-owned 0755 directory', async () => {
    await expect(checkSocketDir(sub('ok', 0o755))).resolves.toBeUndefined();
  });
  it('refuses world-writable, foreign-owned, symlinked and missing directories with one line', async () => {
    const open = sub('open', 0o777);
    await expect(checkSocketDir(open)).rejects.toThrow(`cni socket directory ${open} is writable by group and others (mode 0777)`);
    const foreign = sub('foreign', 0o755, 4242);
    await expect(checkSocketDir(foreign)).rejects.toThrow(`cni socket directory ${foreign} is owned by uid 4242`);
    const link = join(dir, 'link');
    symlinkSync(sub('target', 0o755), link);
    await expect(checkSocketDir(link)).rejects.toThrow('is a symbolic link');
    writeFileSync(join(dir, 'file'), '');
    await expect(checkSocketDir(join(dir, 'file'))).rejects.toThrow('is not a directory');
    await expect(checkSocketDir(join(dir, 'absent'))).rejects.toThrow(`cni socket directory ${join(dir, 'absent')}: ENOENT`);
  });
});
