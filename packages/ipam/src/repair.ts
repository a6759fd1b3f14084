/**
 * `ipam release --from-report`: acts on a check report, entry by entry,
 * only where the entry is still in the state the report saw. Affinities and
 * handles are pinned by their mod revision; an allocation by (ordinal, seq,
 * handle), since its block's revision moves with every neighbour; a node's
 * entries only while the node is still unregistered (compared in the txn).
 */
import type { Keys } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { CONFIRMED } from './affinity.js';
import { type BlockRecord, allocationAt, decodeBlock, hostAffinity, isEmpty, unassign } from './block.js';
import type { CheckIssue, CheckReport, IssueKind } from './check.js';
import { decodeHandle, withoutIP } from './handle.js';
import { readKey } from './kv.js';
import { blockWriteOp, handleWriteOp } from './release.js';

export interface RepairAction {
  issue: CheckIssue;
  /** What is (or would be) done, in words. */
  action: string;
  /** done: applied; would: dry run; skipped: no longer in the reported state. */
  outcome: 'done' | 'would' | 'skipped';
  reason?: string;
}

type Txn = ReturnType<Etcd3['if']>;
type Plan = { action: string; txn: Txn } | { action: string; skip: string };

const ORDER: IssueKind[] = [
  'allocationNodeNotRegistered',
  'allocationWithoutHandle',
  'handleWithoutAllocation',
  'affinityWithoutBlock',
  'affinityUnconfirmed',
  'blockNodeGone',
  'handleOfTwoInterfaces',
  'allocationNotOfHandle',
  'addressInTwoHandles',
];

export async function repair(
  etcd: Etcd3,
  keys: Keys,
  report: Pick<CheckReport, 'issues'>,
  opts: { dryRun?: boolean; progress?: (done: number, total: number) => void } = {},
): Promise<RepairAction[]> {
  const issues = [...report.issues].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  const out: RepairAction[] = [];
  for (const issue of issues) {
    const plan = await planFor(etcd, keys, issue);
    if ('skip' in plan) out.push({ issue, action: plan.action, outcome: 'skipped', reason: plan.skip });
    else if (opts.dryRun) out.push({ issue, action: plan.action, outcome: 'would' });
    else if ((await plan.txn.commit()).succeeded) out.push({ issue, action: plan.action, outcome: 'done' });
    else out.push({ issue, action: plan.action, outcome: 'skipped', reason: 'changed while repairing' });
    opts.progress?.(out.length, issues.length);
  }
  return out;
}

function planFor(etcd: Etcd3, keys: Keys, issue: CheckIssue): Promise<Plan> {
  switch (issue.kind) {
    case 'allocationNodeNotRegistered':
    case 'allocationWithoutHandle':
      return planFreeAllocation(etcd, keys, issue);
    case 'handleWithoutAllocation':
      return planHandle(etcd, keys, issue);
    case 'affinityWithoutBlock':
      return Promise.resolve({
        action: `delete affinity ${issue.node} → ${issue.block}`,
        txn: etcd
          .if(issue.key, 'Mod', '==', issue.modRevision)
          .and(keys.block(issue.block ?? ''), 'Mod', '==', issue.blockRevision ?? '0')
          .then(etcd.delete().key(issue.key)),
      });
    case 'affinityUnconfirmed':
      return planConfirm(etcd, keys, issue);
    case 'blockNodeGone':
      return planGoneBlock(etcd, keys, issue);
    case 'handleOfTwoInterfaces':
    case 'allocationNotOfHandle':
    case 'addressInTwoHandles':
      // Freeing either holder could cut a running pod off: a person decides
      // (`terracectl ipam release --ip` for the interface that must give it up).
      return Promise.resolve({ action: `leave ${issue.ip ?? issue.handle} to an operator`, skip: 'two interfaces may hold this address; which one keeps it is not for repair to guess' });
  }
}

async function planFreeAllocation(etcd: Etcd3, keys: Keys, issue: CheckIssue): Promise<Plan> {
  const action = `release ${issue.ip} (handle ${issue.handle}, node ${issue.node}, block ${issue.block})`;
  const b = await readKey(etcd, issue.key);
  const rec = b ? decodeBlock(issue.key, b.text) : undefined;
  const a = rec && issue.ordinal !== undefined ? allocationAt(rec, issue.ordinal) : undefined;
  if (!b || !rec || !a || a.seq !== issue.seq || a.handle !== issue.handle) return { action, skip: 'address released or reassigned since the report' };
  const hkey = keys.handle(a.handle);
  const h = await readKey(etcd, hkey);
  if (issue.kind === 'allocationWithoutHandle' && (h?.mod ?? '0') !== issue.handleRevision) return { action, skip: 'its handle changed since the report' };
  const next = unassign(rec, issue.ordinal as number, a.seq, a.handle) as BlockRecord;
  const txn = etcd.if(issue.key, 'Mod', '==', b.mod).and(hkey, 'Mod', '==', h?.mod ?? 0);
  if (issue.kind === 'allocationNodeNotRegistered') txn.and(keys.resource('Node', a.node), 'Create', '==', 0);
  const ops = [blockWriteOp(etcd, issue.key, next)];
  if (h) ops.push(handleWriteOp(etcd, hkey, withoutIP(decodeHandle(hkey, h.text), rec.cidr, issue.ordinal as number, a.seq)));
  return { action, txn: txn.then(...ops) };
}

async function planHandle(etcd: Etcd3, keys: Keys, issue: CheckIssue): Promise<Plan> {
  const action = `remove ${issue.entries?.length ?? 0} dangling entries of handle ${issue.handle}`;
  const h = await readKey(etcd, issue.key);
  if (!h || h.mod !== issue.modRevision) return { action, skip: 'handle changed since the report' };
  let rec = decodeHandle(issue.key, h.text);
  for (const e of issue.entries ?? []) rec = withoutIP(rec, e.block, e.ordinal, e.seq) ?? { handle: rec.handle, ips: [] };
  const op = handleWriteOp(etcd, issue.key, rec.ips.length === 0 ? null : rec);
  return { action, txn: etcd.if(issue.key, 'Mod', '==', issue.modRevision).then(op) };
}

async function planConfirm(etcd: Etcd3, keys: Keys, issue: CheckIssue): Promise<Plan> {
  const action = `confirm affinity ${issue.node} → ${issue.block}`;
  const bkey = keys.block(issue.block ?? '');
  const b = await readKey(etcd, bkey);
  if (!b || decodeBlock(bkey, b.text).affinity !== hostAffinity(issue.node ?? '')) return { action, skip: 'block no longer affine to the node' };
  return {
    action,
    txn: etcd.if(issue.key, 'Mod', '==', issue.modRevision).and(bkey, 'Mod', '==', b.mod).then(etcd.put(issue.key).value(CONFIRMED)),
  };
}

async function planGoneBlock(etcd: Etcd3, keys: Keys, issue: CheckIssue): Promise<Plan> {
  const node = issue.node ?? '';
  const b = await readKey(etcd, issue.key);
  const rec = b ? decodeBlock(issue.key, b.text) : undefined;
  if (!b || !rec || rec.affinity !== hostAffinity(node)) return { action: `release block ${issue.block} of ${node}`, skip: 'block no longer affine to the node' };
  const akey = keys.affinity(node, rec.cidr);
  const a = await readKey(etcd, akey);
  const txn = etcd
    .if(issue.key, 'Mod', '==', b.mod)
    .and(akey, 'Mod', '==', a?.mod ?? 0)
    .and(keys.resource('Node', node), 'Create', '==', 0)
    .and(keys.alive(node), 'Create', '==', 0);
  const delAff = a ? [etcd.delete().key(akey)] : [];
  if (isEmpty(rec)) return { action: `delete empty block ${issue.block} of ${node}`, txn: txn.then(etcd.delete().key(issue.key), ...delAff) };
  return {
    action: `unaffine block ${issue.block} of ${node} (${Object.keys(rec.allocations).length} addresses still held)`,
    txn: txn.then(blockWriteOp(etcd, issue.key, { ...rec, affinity: null }), ...delAff),
  };
}
