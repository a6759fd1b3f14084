/**
 * Overlaps among many CIDRs and addresses in O(n log n): sorted by start
 * address, two CIDRs overlap only when one contains the other, so one sweep
 * with a stack of the CIDRs that contain the current one finds them all.
 */
import { type Cidr, type IPAddr, cidrLast } from './ip.js';

interface Item {
  readonly index: number;
  readonly family: number;
  readonly base: bigint;
  readonly last: bigint;
  readonly prefix: number;
}

function byStart(a: Item, b: Item): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  // The larger CIDR first, so it is on the stack when the ones inside it come; then list order.
  return a.prefix - b.prefix || a.index - b.index;
}

/**
 * For each CIDR, the lowest index of another CIDR in the list that overlaps
 * it (Infinity when none does). In list order, pool i overlaps an earlier
 * one exactly when the result at i is below i.
 */
export function lowestOverlapping(cidrs: readonly Cidr[]): number[] {
  const items: Item[] = cidrs.map((c, index) => ({ index, family: c.family, base: c.base, last: cidrLast(c), prefix: c.prefix }));
  items.sort(byStart);
  const lowest = new Array<number>(cidrs.length).fill(Infinity);
  // Each CIDR's lowest index among those that contain it, and among those inside it.
  const above = new Array<number>(cidrs.length).fill(Infinity);
  const below = new Array<number>(cidrs.length).fill(Infinity);
  const stack: Item[] = [];
  const pop = (): void => {
    const done = stack.pop() as Item;
    lowest[done.index] = Math.min(above[done.index] as number, below[done.index] as number);
    const parent = stack[stack.length - 1];
    if (parent) below[parent.index] = Math.min(below[parent.index] as number, done.index, below[done.index] as number);
  };
  for (const it of items) {
    for (let top = stack[stack.length - 1]; top && (top.family !== it.family || top.last < it.base); top = stack[stack.length - 1]) pop();
    const parent = stack[stack.length - 1];
    if (parent) above[it.index] = Math.min(above[parent.index] as number, parent.index);
    stack.push(it);
  }
  while (stack.length > 0) pop();
  return lowest;
}

/**
 * The first CIDR (in list order) that overlaps an earlier one in the list,
 * with the earliest such: what checking each CIDR against those before it
 * would report first.
 */
export function firstOverlap(cidrs: readonly Cidr[]): { later: number; earlier: number } | undefined {
  const lowest = lowestOverlapping(cidrs);
  for (let i = 0; i < cidrs.length; i++) {
    const j = lowest[i] as number;
    if (j < i) return { later: i, earlier: j };
  }
  return undefined;
}

/** Addresses sorted once, to find those inside a CIDR by binary search. */
export class AddressIndex {
  private readonly sorted: { ip: IPAddr; index: number }[];

  constructor(ips: readonly IPAddr[]) {
    this.sorted = ips.map((ip, index) => ({ ip, index })).sort((a, b) => a.ip.family - b.ip.family || (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : a.index - b.index));
  }

  /** The list index of the lowest address inside `c` (the first listed among equal ones), or -1. */
  firstIn(c: Cidr): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = (this.sorted[mid] as { ip: IPAddr }).ip;
      if (m.family < c.family || (m.family === c.family && m.value < c.base)) lo = mid + 1;
      else hi = mid;
    }
    const hit = this.sorted[lo];
    return hit && hit.ip.family === c.family && hit.ip.value <= cidrLast(c) ? hit.index : -1;
  }
}
