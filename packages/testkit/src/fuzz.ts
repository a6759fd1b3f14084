/**
 * What every fuzz test asks of one input: the code under test returns or
 * throws an error of its documented kind, with a one-line message, within a
 * time bound. Synchronous code cannot be interrupted, so the bound is
 * checked after the call: a hang shows as a failed property (or, beyond
 * jest's timeout, a failed test), never as a pass.
 *
 * Synchronous calls are measured in CPU time (user + system) of this
 * process: a runaway parser burns CPU, while a loaded machine that merely
 * keeps the test off the CPU for a second does not, so the bound stays
 * tight without failing on a busy host. Awaiting code spends its time
 * waiting, not computing, so its bound is wall-clock and looser.
 */
import fc from 'fast-check';

/** The most CPU time one synchronous input may take, far above what any parser here needs. */
export const FUZZ_INPUT_MS = 1000;

/** The most wall-clock time one awaited input may take, stalls of a loaded machine included. */
export const FUZZ_ASYNC_INPUT_MS = 5000;

/** Messages longer than this are not "one clean line" any more. */
export const FUZZ_MESSAGE_MAX = 600;

export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number };

type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * Runs `f` once and checks the outcome: an exception must pass `expected`
 * (the module's error type) and have a short message on one line; either
 * way the call must use at most FUZZ_INPUT_MS of CPU time. Throws (so
 * fast-check shrinks) with what was wrong. `ms` in the outcome is that CPU
 * time.
 */
export function bounded<T>(f: () => T, expected: (e: unknown) => boolean): Outcome<T> {
  const t0 = process.cpuUsage();
  let r: Settled<T>;
  try {
    r = { ok: true, value: f() };
  } catch (e) {
    r = { ok: false, error: e as Error };
  }
  return settle(r, cpuMsSince(t0), 'of CPU time', FUZZ_INPUT_MS, expected);
}

/**
 * CPU time (user + system, in ms) this process used since `t0` (a
 * process.cpuUsage() reading): the measure for "computes quickly" checks,
 * which a loaded machine's scheduling stalls do not inflate.
 */
export function cpuMsSince(t0: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(t0);
  return (used.user + used.system) / 1000;
}

/** The async form of bounded(), for code that awaits; `ms` is wall-clock time, bounded by FUZZ_ASYNC_INPUT_MS. */
export async function boundedAsync<T>(f: () => Promise<T>, expected: (e: unknown) => boolean): Promise<Outcome<T>> {
  const t0 = performance.now();
  const r: Settled<T> = await f().then(
    (value) => ({ ok: true as const, value }),
    (e: unknown) => ({ ok: false as const, error: e as Error }),
  );
  return settle(r, performance.now() - t0, '', FUZZ_ASYNC_INPUT_MS, expected);
}

function settle<T>(r: Settled<T>, ms: number, kind: string, bound: number, expected: (e: unknown) => boolean): Outcome<T> {
  const of = kind === '' ? '' : ` ${kind}`;
  if (ms > bound) throw new Error(`one input took ${Math.round(ms)} ms${of} (bound ${bound} ms)`);
  if (!r.ok) checkError(r.error, expected);
  return { ...r, ms };
}

function checkError(e: Error, expected: (e: unknown) => boolean): void {
  if (!expected(e)) throw new Error(`unexpected ${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 300)}`, { cause: e });
  if (/[\r\n]/.test(e.message)) throw new Error(`message is not one line: ${JSON.stringify(e.message.slice(0, 300))}`);
  if (e.message.length > FUZZ_MESSAGE_MAX) throw new Error(`message of ${e.message.length} characters: ${e.message.slice(0, 200)}…`);
  if (e.message.trim() === '') throw new Error('empty message');
}

/**
 * Random edits of a valid input: a fuzzer that only makes garbage never
 * gets past the first check. Each edit deletes, repeats, replaces or
 * inserts a short run, at a position taken modulo the current length.
 */
export type Edit =
  | { op: 'delete'; at: number; len: number }
  | { op: 'repeat'; at: number; len: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'set'; at: number; byte: number };

export function editsArb(alphabet: fc.Arbitrary<string>, maxEdits = 4): fc.Arbitrary<Edit[]> {
  const at = fc.nat({ max: 1 << 20 });
  return fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 16 }) }),
      fc.record({ op: fc.constant('repeat' as const), at, len: fc.integer({ min: 1, max: 16 }) }),
      fc.record({ op: fc.constant('insert' as const), at, text: alphabet }),
      fc.record({ op: fc.constant('set' as const), at, byte: fc.integer({ min: 0, max: 255 }) }),
    ),
    { minLength: 1, maxLength: maxEdits },
  );
}

/** Applies edits to bytes (text callers pass Buffer.from(text)). */
export function applyEdits(input: Uint8Array, edits: readonly Edit[]): Buffer {
  let b = Buffer.from(input);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    switch (e.op) {
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at)]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(e.text), b.subarray(at)]);
        break;
      case 'set':
        if (at < b.length) b[at] = e.byte;
        break;
    }
  }
  return b;
}
