/** Narration for the demos: numbered steps, timestamped lines, indented command output. */
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
