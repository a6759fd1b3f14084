import { describe, expect, it } from '@jest/globals';
import { Broadcast } from '../src/broadcast.js';

async function take<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const v of it) {
    out.push(v);
    if (out.length === n) break;
  }
  return out;
}

describe('Broadcast', () => {
  it('delivers initial items first, then published ones, to every subscriber', async () => {
    const b = new Broadcast<number>();
    const a = b.subscribe([0]);
    const c = b.subscribe();
    b.publish(1);
    b.publish(2);
    expect(await take(a, 3)).toEqual([0, 1, 2]);
    expect(await take(c, 2)).toEqual([1, 2]);
  });

  it('ends iteration on close and detaches consumers that break', async () => {
    const b = new Broadcast<number>();
    const a = b.subscribe();
    b.publish(1);
    expect(await take(a, 1)).toEqual([1]);
    expect(b.subscribers).toBe(0);
    const c = b.subscribe();
    setTimeout(() => b.close(), 10);
    const got: number[] = [];
    for await (const v of c) got.push(v);
    expect(got).toEqual([]);
  });
});
