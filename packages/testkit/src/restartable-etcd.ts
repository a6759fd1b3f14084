/**
 * A private etcd that can be stopped and started again on the same ports
 * with the same data (testkit's startEtcd removes its data on stop). Stopped
 * by PID; remove() deletes the data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, singleMemberArgs, stopChild } from './etcd.js';

export interface RestartableEtcd {
  endpoint: string;
  pid(): number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it (if running) and removes its data. */
  remove(): Promise<void>;
}

/** Server TLS with client-certificate authentication: PEM file paths. */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

async function healthy(endpoint: string, tls: EtcdTls | undefined): Promise<boolean> {
  if (!tls) return (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) })).ok;
  return new Promise((resolve) => {
    const req = httpsGet(
      `${endpoint}/health`,
      { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key), timeout: 500 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export async function restartableEtcd(name = 'restartable', tls?: EtcdTls): Promise<RestartableEtcd> {
  const dataDir = mkdtempSync(join(tmpdir(), 'terrace-etcd-rs-'));
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  let child: ChildProcess | undefined;

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c) await stopChild(c);
  };

  const start = async (): Promise<void> => {
    const c = spawn(
      'etcd',
      [
        ...singleMemberArgs(name, dataDir, endpoint, peer),
        ...(tls ? [`--cert-file=${tls.cert}`, `--key-file=${tls.key}`, `--trusted-ca-file=${tls.ca}`, '--client-cert-auth'] : []),
      ],
      { stdio: 'ignore' },
    );
    child = c;
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`etcd exited with code ${c.exitCode}`);
      try {
        if (await healthy(endpoint, tls)) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    throw new Error(`etcd at ${endpoint} not healthy in 15 s`);
  };

  await start();
  return {
    endpoint,
    pid: () => child?.pid,
    start,
    stop,
    remove: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
