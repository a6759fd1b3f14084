/**
 * The scale bench still runs end to end, small: 20 simulated nodes on a
 * 3-member loopback etcd with the real controller, 5 of them killed and
 * freed. Its figures are not judged (never timings in tests), only that it
 * completes, names no break, and ends with the summary line in the issue's
 * shape.
 */
import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';

const runBench = new URL('../../../bench/run.mjs', import.meta.url).pathname;

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [runBench, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    // SIGTERM: the bench stops its etcd members, controller and workers by PID on it.
    const t = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bench scale', () => {
  test('runs with 20 nodes and ends with the summary line', async () => {
    const r = await run(['scale', '--nodes', '20', '--dead', '5', '--workers', '2'], 240000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
    expect(Object.keys(last)).toEqual(['bench', 'nodes', 'register_per_s', 'first_block_all_s', 'etcd_db_mb', 'controller_rss_mb', 'controller_cpu_s', 'free_100_dead_s', 'first_break']);
    expect(last).toMatchObject({ bench: 'scale', nodes: 20, first_break: 'none up to 20' });
    for (const k of ['register_per_s', 'first_block_all_s', 'etcd_db_mb', 'controller_rss_mb', 'controller_cpu_s', 'free_100_dead_s']) expect(typeof last[k]).toBe('number');
  }, 300000);
});
