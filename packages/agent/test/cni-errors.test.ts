import { describe, expect, it } from '@jest/globals';
import { TerraceError, type ErrorCode } from '@terrace/api';
import { CniCode, CniError } from '@terrace/cni';
import { cniCodeFor, toCniError } from '../src/cni/errors.js';
import { handleOf } from '../src/cni/handlers.js';
import { KeyedLock } from '../src/cni/lock.js';

describe('CNI error mapping', () => {
  it('maps every TerraceError code once, with transient failures as 11', () => {
    const expected: Record<ErrorCode, number> = {
      Invalid: 7,
      NotFound: 7,
      AlreadyExists: 103,
      Conflict: 11,
      Exhausted: 100,
      Unavailable: 11,
      Internal: 110,
    };
    for (const [code, cni] of Object.entries(expected)) expect(cniCodeFor(new TerraceError(code as ErrorCode, 'x'))).toBe(cni);
  });

  it('maps invalid input about the runtime\'s environment (netns, container id, interface) to 4', () => {
    for (const field of ['netns', 'containerId', 'ifname']) expect(cniCodeFor(new TerraceError('Invalid', 'x', { field }))).toBe(4);
    expect(cniCodeFor(new TerraceError('Invalid', 'x', { field: 'mtu' }))).toBe(7);
  });

  it('keeps CniErrors, converts TerraceErrors and wraps anything else as internal', () => {
    const c = toCniError(new CniError(CniCode.CheckFailed, 'x', 'y'));
    expect([c.code, c.message, c.details]).toEqual([102, 'x', 'y']);
    const t = toCniError(new TerraceError('Exhausted', 'ippool/v4: no free address', { resource: 'ippool/v4' }));
    expect([t.code, t.message, t.details]).toEqual([100, 'ippool/v4: no free address', 'ippool/v4']);
    expect(toCniError(new Error('boom'))).toMatchObject({ code: 110, message: 'terrace-agent: boom' });
  });

  it('answers in one line: the rest of a multi-line message goes to details', () => {
    const e = toCniError(new TerraceError('Internal', 'pod x: configure eth0\nRTNETLINK answers: File exists\nCommand failed -:1'));
    expect(e.message).toBe('pod x: configure eth0');
    expect(e.details).toBe('RTNETLINK answers: File exists Command failed -:1');
    expect(toCniError(new Error('y'.repeat(5000))).message.length).toBeLessThan(600);
  });
});

describe('handles and per-interface serialisation', () => {
  it('names a pod interface by network, container and interface', () => {
    expect(handleOf('k8s', 'abc', 'eth0')).toBe('k8s:abc:eth0');
  });

  it('runs work for one key in order and different keys in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
    };
    await Promise.all([lock.run('a', step('a1', 30)), lock.run('a', step('a2', 1)), lock.run('b', step('b1', 1))]);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1-')).toBeLessThan(log.indexOf('a1-'));
    // A failure releases the key.
    await expect(lock.run('a', () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await lock.run('a', step('a3', 1));
    expect(log).toContain('a3-');
  });
});
