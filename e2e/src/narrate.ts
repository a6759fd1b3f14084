/** Narration for the demos: numbered steps, timestamped lines, indented command output. */
import type { Lab } from '@terrace/testkit';
import { destroyLab } from './hosts.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const started = Date.now();

/** Seconds since the demo started, right-aligned. */
export const clock = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;

export function step(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

export function say(line: string): void {
  process.stdout.write(`${clock()}  ${line}\n`);
}

export function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Seconds since the demo started. */
export function elapsedS(): string {
  return ((Date.now() - started) / 1000).toFixed(1);
}

/** A demo's last step: the lab torn down (its diagnostics first if the tour failed), and whether anything is left. */
export async function tearDown(lab: { readonly kit: Lab; destroy(): Promise<void>; diagnostics(): string }, ok: boolean): Promise<void> {
  step('Tearing down: daemons stopped by PID, namespaces deleted');
  if (!ok) process.stdout.write(`${lab.diagnostics()}\n`);
  const prefix = lab.kit.prefix;
  const left = await destroyLab(lab);
  say(left.length === 0 ? `nothing left behind (no namespace starts with ${prefix})` : `LEFT BEHIND: ${left.join(', ')}`);
}

/** Runs a demo and exits with its code; a failure prints its stack and exits 1. */
export function runDemo(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
