/**
 * Test-only fault injection on the ADD path: `TERRACE_FAULT=<point>:<n>`
 * makes the n-th ADD (counted from 1 since the agent started) stop for good
 * at that point, as if the process had died there, so a test can SIGKILL the
 * agent with work half done and check what a restart leaves behind.
 *
 * Points: `after-ipam` (addresses allocated, nothing wired), `after-wire`
 * (veth wired, host routes not yet handed to route sync).
 *
 * Never set in production. Read once when the CNI handlers are built; when
 * unset the ADD path only tests one undefined field.
 */
import { TerraceError } from '@terrace/api';

export const FAULT_ENV = 'TERRACE_FAULT';
export const FAULT_POINTS = ['after-ipam', 'after-wire'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export interface Fault {
  point: FaultPoint;
  /** Which ADD stops (1 = the first). */
  nth: number;
}

/** Parses the variable's value; undefined or empty means no fault. */
export function parseFault(value: string | undefined): Fault | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^([a-z-]+):([1-9][0-9]{0,6})$/.exec(value);
  const point = FAULT_POINTS.find((p) => p === m?.[1]);
  if (!m || point === undefined) {
    throw new TerraceError('Invalid', `${FAULT_ENV}=${value}: expected <point>:<n> with point one of ${FAULT_POINTS.join(', ')} and n ≥ 1 (test-only)`);
  }
  return { point, nth: Number(m[2]) };
}

/**
 * Counts ADDs reaching each point; the chosen one never returns (the
 * promise stays pending), after saying so on stderr so a test knows when to
 * kill.
 */
export class FaultInjector {
  private readonly seen = new Map<FaultPoint, number>();

  constructor(private readonly fault: Fault) {}

  async reached(point: FaultPoint, handle: string): Promise<void> {
    if (point !== this.fault.point) return;
    const n = (this.seen.get(point) ?? 0) + 1;
    this.seen.set(point, n);
    if (n !== this.fault.nth) return;
    process.stderr.write(`${FAULT_ENV}: stopped at ${point} #${n} (${handle})\n`);
    await new Promise<never>(() => undefined);
  }
}
