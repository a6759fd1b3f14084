// The pure GC planner: grace timing on an injected clock, flapping nodes, the two-pass empty-block rule.
import { describe, expect, test } from '@jest/globals';
import { type GcState, type NodeHoldings, type World, emptyGcState, nodeCameBack, nodeWentAway, planPass } from '../src/gc.js';

const GRACE = 300_000;

function held(addresses: number, blocks: string[] = [], emptyBlocks: string[] = []): NodeHoldings {
  return { addresses, blocks, emptyBlocks };
}

function world(alive: string[], holdings: Record<string, NodeHoldings>, registered: string[] = []): World {
  return { alive: new Set(alive), registered: new Set(registered), holdings: new Map(Object.entries(holdings)) };
}

/** Runs passes at the given times against one world each; returns the last plan. */
function passes(steps: { at: number; w: World }[], start: GcState = emptyGcState()) {
  let state = start;
  let plan;
  for (const s of steps) {
    plan = planPass(state, s.w, s.at, GRACE);
    state = plan.state;
  }
  if (!plan) throw new Error('no steps');
  return plan;
}

describe('grace period', () => {
  const dead = world(['n1'], { n1: held(2, ['10.0.0.0/26']), n2: held(3, ['10.0.0.64/26']) }, ['n1', 'n2']);

  test('a dead node is not released before its grace period ends, and is released after', () => {
    let plan = planPass(emptyGcState(), dead, 1_000, GRACE);
    expect(plan.releaseNodes).toEqual([]);
    expect(plan.nodes.find((n) => n.node === 'n2')).toMatchObject({ state: 'grace', goneSince: 1_000, graceRemainingMs: GRACE });
    expect(plan.nextDeadlineMs).toBe(GRACE);

    plan = planPass(plan.state, dead, 1_000 + GRACE - 1, GRACE);
    expect(plan.releaseNodes).toEqual([]);
    expect(plan.nextDeadlineMs).toBe(1);

    plan = planPass(plan.state, dead, 1_000 + GRACE, GRACE);
    expect(plan.releaseNodes).toEqual(['n2']);
    expect(plan.nodes.find((n) => n.node === 'n2')?.state).toBe('released');
    expect(plan.nextDeadlineMs).toBeUndefined();
  });

  test('the clock starts when this leader first sees the node gone, not earlier', () => {
    // A new leader (empty state) at t=10 min: the node may have died long ago, but the clock starts now.
    const plan = planPass(emptyGcState(), dead, 600_000, GRACE);
    expect(plan.releaseNodes).toEqual([]);
    expect(plan.nodes.find((n) => n.node === 'n2')?.goneSince).toBe(600_000);
  });

  test('a watch event starts the clock between passes', () => {
    let state = nodeWentAway(emptyGcState(), 'n2', 5_000);
    // A second deletion event does not restart it.
    state = nodeWentAway(state, 'n2', 9_000);
    const plan = planPass(state, dead, 5_000 + GRACE, GRACE);
    expect(plan.releaseNodes).toEqual(['n2']);
  });

  test('a live node is never released, however long it has been known', () => {
    const w = world(['n1', 'n2'], { n1: held(5), n2: held(1, ['10.0.0.64/26']) });
    const plan = passes([
      { at: 0, w },
      { at: 10 * GRACE, w },
    ]);
    expect(plan.releaseNodes).toEqual([]);
    expect(plan.nodes.map((n) => n.state)).toEqual(['alive', 'alive']);
  });

  test('a dead node that holds nothing is reported but not released; one with no trace is forgotten', () => {
    const w = world([], {}, ['gone']);
    let plan = planPass(nodeWentAway(emptyGcState(), 'ghost', 0), w, 0, GRACE);
    expect(plan.nodes.map((n) => n.node)).toEqual(['gone']);
    expect(plan.state.goneSince.has('ghost')).toBe(false);
    plan = planPass(plan.state, w, GRACE, GRACE);
    expect(plan.nodes).toEqual([{ node: 'gone', state: 'released', goneSince: 0, addresses: 0, blocks: 0 }]);
    expect(plan.releaseNodes).toEqual([]);
  });

  test('a node with allocations but no Node resource is still collected', () => {
    const w = world([], { orphan: held(1) });
    const plan = passes([
      { at: 0, w },
      { at: GRACE, w },
    ]);
    expect(plan.releaseNodes).toEqual(['orphan']);
  });

  test('release is planned again while the node still holds something (idempotent retries)', () => {
    const w = world([], { n: held(1) });
    const plan = passes([
      { at: 0, w },
      { at: GRACE, w },
      { at: GRACE + 30_000, w },
    ]);
    expect(plan.releaseNodes).toEqual(['n']);
  });
});

describe('flapping nodes', () => {
  const gone = world([], { n: held(4, ['10.0.0.0/26']) }, ['n']);
  const back = world(['n'], { n: held(4, ['10.0.0.0/26']) }, ['n']);

  test('a node that comes back within its grace period is left alone', () => {
    const plan = passes([
      { at: 0, w: gone },
      { at: GRACE - 1_000, w: back },
      { at: GRACE + 1_000, w: back },
    ]);
    expect(plan.releaseNodes).toEqual([]);
    expect(plan.state.goneSince.size).toBe(0);
  });

  test('each absence starts a new clock: a flapping node is released only after one full grace period gone', () => {
    let state = emptyGcState();
    const step = (at: number, w: World) => {
      const p = planPass(state, w, at, GRACE);
      state = p.state;
      return p;
    };
    step(0, gone);
    step(200_000, back);
    expect(step(250_000, gone).releaseNodes).toEqual([]); // clock restarts at 250 s
    expect(step(400_000, gone).releaseNodes).toEqual([]); // 400 s after the first absence, 150 s into the second
    expect(step(549_999, gone).releaseNodes).toEqual([]);
    expect(step(550_000, gone).releaseNodes).toEqual(['n']);
  });

  test('a watch event for the return stops the clock even if no pass saw the node back', () => {
    let state = planPass(emptyGcState(), gone, 0, GRACE).state;
    state = nodeCameBack(state, 'n');
    state = nodeWentAway(state, 'n', 100_000);
    expect(planPass(state, gone, GRACE, GRACE).releaseNodes).toEqual([]);
    expect(planPass(state, gone, 100_000 + GRACE, GRACE).releaseNodes).toEqual(['n']);
  });
});

describe('empty blocks of live nodes', () => {
  const A = '10.0.0.0/26';
  const B = '10.0.0.64/26';

  test('released only after being empty on two consecutive periodic passes', () => {
    const w = world(['n'], { n: held(0, [A], [A]) });
    let plan = planPass(emptyGcState(), w, 0, GRACE);
    expect(plan.releaseEmptyBlocks).toEqual([]);
    expect(plan.waitingEmptyBlocks).toEqual([{ node: 'n', blocks: [A] }]);
    plan = planPass(plan.state, w, 30_000, GRACE);
    expect(plan.releaseEmptyBlocks).toEqual([{ node: 'n', blocks: [A] }]);
  });

  test('a block used again between passes starts over', () => {
    const empty = world(['n'], { n: held(0, [A], [A]) });
    const used = world(['n'], { n: held(1, [A], []) });
    const plan = passes([
      { at: 0, w: empty },
      { at: 1, w: used },
      { at: 2, w: empty },
    ]);
    expect(plan.releaseEmptyBlocks).toEqual([]);
  });

  test('deadline passes neither count nor release empty blocks', () => {
    const w = world(['n'], { n: held(0, [A], [A]) });
    let plan = planPass(emptyGcState(), w, 0, GRACE, 'periodic');
    plan = planPass(plan.state, w, 1, GRACE, 'deadline');
    expect(plan.releaseEmptyBlocks).toEqual([]);
    expect(plan.state.emptyPasses.get(A)).toEqual({ node: 'n', passes: 1 });
    plan = planPass(plan.state, w, 2, GRACE, 'periodic');
    expect(plan.releaseEmptyBlocks).toEqual([{ node: 'n', blocks: [A] }]);
  });

  test('a node waits while any of its empty blocks is a first sighting', () => {
    const one = world(['n'], { n: held(1, [A, B], [A]) });
    const two = world(['n'], { n: held(0, [A, B], [A, B]) });
    let plan = planPass(emptyGcState(), one, 0, GRACE);
    plan = planPass(plan.state, two, 1, GRACE);
    expect(plan.releaseEmptyBlocks).toEqual([]);
    expect(plan.waitingEmptyBlocks).toEqual([{ node: 'n', blocks: [B] }]);
    plan = planPass(plan.state, two, 2, GRACE);
    expect(plan.releaseEmptyBlocks).toEqual([{ node: 'n', blocks: [A, B] }]);
  });

  test('empty blocks of dead nodes are left to the node release', () => {
    const w = world([], { n: held(0, [A], [A]) }, ['n']);
    const plan = passes([
      { at: 0, w },
      { at: 1, w },
    ]);
    expect(plan.releaseEmptyBlocks).toEqual([]);
    expect(plan.releaseNodes).toEqual([]);
  });

  test('a block that moved to another node is counted afresh', () => {
    const first = world(['n', 'm'], { n: held(0, [A], [A]) });
    const moved = world(['n', 'm'], { m: held(0, [A], [A]) });
    const plan = passes([
      { at: 0, w: first },
      { at: 1, w: moved },
    ]);
    expect(plan.releaseEmptyBlocks).toEqual([]);
  });
});
