/**
 * Progress for long operations, on stderr and only when stderr is a
 * terminal: piped or captured output (scripts, tests) stays clean.
 */
export interface ProgressSink {
  isTTY?: boolean;
  write(s: string): unknown;
}

/** Redraws one line per call; `end()` closes a line left unfinished (a failure mid-way), so an error starts on a line of its own. */
export type Progress = ((label: string, done: number, total: number) => void) & { end(): void };

export function makeProgress(sink: ProgressSink = process.stderr): Progress {
  let shown = false;
  const end = (): void => {
    if (!shown) return;
    sink.write('\n');
    shown = false;
  };
  const progress = (label: string, done: number, total: number): void => {
    if (!sink.isTTY) return;
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    sink.write(`\r\x1b[K${label} ${done}/${total} (${pct}%)`);
    shown = true;
    if (done >= total) end();
  };
  return Object.assign(progress, { end });
}
