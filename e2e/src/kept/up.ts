/**
 * `make lab`: whatever lab `.lab/` records is removed first, then a keeper
 * process is started in a session of its own (so it outlives `make` and a
 * Ctrl-C at the terminal), with its output in `.lab/lab.log`. It builds the
 * lab and writes `.lab/env` and `.lab/lab.json`; this side waits for that
 * (or for the keeper to fail, then shows its log) and returns the state.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, sleep } from '../proc.js';
import { labDown } from './down.js';
import { KEEPER_FILE, LAB_FILE, LOG_FILE, readJson, record, writeAtomically, type KeeperRecord, type KeptLab } from './state.js';

const KEEPER = join(dirname(fileURLToPath(import.meta.url)), 'keeper.js');

/** A prefix for this run: `tk` and the time in base 36, so a new lab never meets an old one's names. */
export function keptPrefix(now = Date.now()): string {
  return `tk${(now % 36 ** 6).toString(36)}-`;
}

export async function labUp(dir: string, opts: { timeoutMs?: number } = {}): Promise<KeptLab> {
  const previous = await labDown(dir);
  if (previous.left.length > 0) throw new Error(`the previous lab ${previous.prefix} left ${previous.left.join(', ')}; remove them with ip netns del`);
  mkdirSync(dir, { recursive: true });
  const prefix = keptPrefix();
  const log = openSync(join(dir, LOG_FILE), 'w');
  const child = spawn(process.execPath, [KEEPER, dir, prefix], { detached: true, stdio: ['ignore', log, log], env: cleanEnv() });
  closeSync(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${KEEPER}`);
  // Recorded before the keeper builds anything, so lab-down can sweep a half-built lab too.
  const keeper: KeeperRecord = { ...record('keeper', pid), prefix };
  writeAtomically(join(dir, KEEPER_FILE), `${JSON.stringify(keeper, null, 2)}\n`);
  const deadline = Date.now() + (opts.timeoutMs ?? 180000);
  for (;;) {
    const lab = readJson<KeptLab>(dir, LAB_FILE);
    if (lab?.prefix === prefix) {
      child.unref();
      return lab;
    }
    const failed = exited !== undefined ? `the lab keeper exited (${exited})` : Date.now() > deadline ? 'the lab did not come up in time' : undefined;
    if (failed) {
      const tail = readFileSync(join(dir, LOG_FILE), 'utf8').slice(-4000);
      await labDown(dir);
      throw new Error(`${failed}; its log (${join(dir, LOG_FILE)}):\n${tail}`);
    }
    await sleep(200);
  }
}
