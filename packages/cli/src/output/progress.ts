/**
 * Progress for long operations, on stderr and only when stderr is a
 * terminal: piped or captured output (scripts, tests) stays clean.
 */
export interface ProgressSink {
  isTTY?: boolean;
  write(s: string): unknown;
}

export function makeProgress(sink: ProgressSink = process.stderr): (label: string, done: number, total: number) => void {
  let shown = false;
  return (label, done, total) => {
    if (!sink.isTTY) return;
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    sink.write(`\r\x1b[K${label} ${done}/${total} (${pct}%)`);
    shown = true;
    if (done >= total && shown) {
      sink.write('\n');
      shown = false;
    }
  };
}
