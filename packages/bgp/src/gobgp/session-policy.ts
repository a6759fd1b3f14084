/**
 * Per-session policies (../policy.ts) in gobgpd. gobgpd 3.10 keeps
 * per-neighbor policies only for route-server clients ("non-rs-client peer
 * doesn't have per peer policy"), so a session's rules become statements of
 * one global policy per direction, each conditioned on a neighbor set that
 * holds that one peer (gobgpd matches a neighbor set against the path's
 * source on import and against the receiving peer on export) and a prefix
 * set holding the rule's ranges:
 *
 * - import (`terrace-import-<hash>`): each peer's rules in order, then a
 *   statement that rejects whatever else the peer sends; a peer without a
 *   policy matches none of them and is accepted by the assignment's default;
 * - export (`terrace-export-filters-<hash>`): each peer's rules, limited to
 *   paths we originate (route type local), placed after the policy that
 *   lets out only our own paths and sets next hops (export-policy.ts), so
 *   that an Accept here cannot skip those.
 *
 * Names carry a hash of the content: a change is a new policy beside the old
 * one, switched over by one SetPolicyAssignment, then the old one and its sets
 * are deleted, so there is no moment without a policy.
 */
import { createHash } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { formatCidr, formatIP } from '@terrace/api';
import {
  Conditions_RouteType,
  DefinedType,
  MatchSet_Type,
  PolicyDirection,
  RouteAction,
  type DefinedSetSchema,
  type PolicySchema,
  type StatementSchema,
} from '../gen/gobgp_pb.js';
import type { PolicyRule } from '../policy.js';
import type { PeerConfig } from '../speaker.js';
import type { GobgpClient } from './client.js';

export const IMPORT_POLICY_PREFIX = 'terrace-import-';
export const EXPORT_FILTER_PREFIX = 'terrace-export-filters-';
const GLOBAL_ASSIGNMENT = 'global';

type DefinedSetInit = MessageInitShape<typeof DefinedSetSchema>;
type StatementInit = MessageInitShape<typeof StatementSchema>;

export interface BuiltPolicy {
  name: string;
  sets: DefinedSetInit[];
  policy: MessageInitShape<typeof PolicySchema>;
}

export function hostPrefix(p: PeerConfig): string {
  return `${formatIP(p.address)}/${p.address.family === 4 ? 32 : 128}`;
}

/** The statements of one direction, their names under `name` (the policy's, a hash of the unnamed draft). */
function statementsOf(peers: readonly PeerConfig[], direction: 'import' | 'export', name: string): { sets: DefinedSetInit[]; statements: StatementInit[] } | undefined {
  const sets: DefinedSetInit[] = [];
  const statements: StatementInit[] = [];
  const sorted = [...peers].sort((a, b) => a.address.family - b.address.family || (a.address.value < b.address.value ? -1 : 1));
  sorted.forEach((p, i) => {
    const rules: readonly PolicyRule[] | undefined = p.policy?.[direction];
    if (!p.policy || !rules || (direction === 'export' && rules.length === 0)) return;
    const nset = `${name}-n${i}`;
    sets.push({ definedType: DefinedType.NEIGHBOR, name: nset, list: [hostPrefix(p)] });
    rules.forEach((r, j) => {
      const pset = `${name}-p${i}-${j}`;
      sets.push({
        definedType: DefinedType.PREFIX,
        name: pset,
        prefixes: r.ranges.map((x) => ({ ipPrefix: formatCidr(x.prefix), maskLengthMin: x.min, maskLengthMax: x.max })),
      });
      statements.push({
        name: `${name}-s${i}-${j}`,
        conditions: {
          neighborSet: { type: MatchSet_Type.ANY, name: nset },
          prefixSet: { type: MatchSet_Type.ANY, name: pset },
          // Export rules are about what we originate; learned paths keep the own-paths rule.
          ...(direction === 'export' ? { routeType: Conditions_RouteType.LOCAL } : {}),
        },
        actions: { routeAction: r.action === 'accept' ? RouteAction.ACCEPT : RouteAction.REJECT },
      });
    });
    if (direction === 'import') {
      statements.push({ name: `${name}-s${i}-end`, conditions: { neighborSet: { type: MatchSet_Type.ANY, name: nset } }, actions: { routeAction: RouteAction.REJECT } });
    }
  });
  return statements.length === 0 ? undefined : { sets, statements };
}

/** The named policy for one direction, or undefined when no session has rules for it. */
export function buildSessionPolicy(peers: readonly PeerConfig[], direction: 'import' | 'export'): BuiltPolicy | undefined {
  const draft = statementsOf(peers, direction, '');
  if (!draft) return undefined;
  const hash = createHash('sha256').update(JSON.stringify(draft)).digest('hex').slice(0, 12);
  const name = `${direction === 'import' ? IMPORT_POLICY_PREFIX : EXPORT_FILTER_PREFIX}${hash}`;
  const body = statementsOf(peers, direction, name) as NonNullable<typeof draft>;
  return { name, sets: body.sets, policy: { name, statements: body.statements } };
}

/** Makes sure the policy exists in gobgpd (its content is fixed by its name). */
export async function ensureDefined(client: GobgpClient, b: BuiltPolicy): Promise<void> {
  const listed = await client.list('listPolicy', { name: b.name }).catch(() => []);
  if (listed.some((r) => r.policy?.name === b.name)) return;
  for (const s of b.sets) await client.unary('addDefinedSet', { definedSet: s });
  await client.unary('addPolicy', { policy: b.policy, referExistingStatements: false });
}

/** Deletes our policies of this prefix other than `keep`, with their defined sets. */
export async function deleteOthers(client: GobgpClient, prefix: string, keep: string | undefined): Promise<void> {
  for (const r of await client.list('listPolicy', { name: '' })) {
    const name = r.policy?.name;
    if (!name?.startsWith(prefix) || name === keep) continue;
    await client.unary('deletePolicy', { policy: { name }, all: true, preserveStatements: false });
  }
  for (const type of [DefinedType.PREFIX, DefinedType.NEIGHBOR]) {
    for (const r of await client.list('listDefinedSet', { definedType: type, name: '' })) {
      const name = r.definedSet?.name;
      if (!name?.startsWith(prefix) || (keep !== undefined && name.startsWith(`${keep}-`))) continue;
      await client.unary('deleteDefinedSet', { definedSet: { definedType: type, name }, all: true });
    }
  }
}

/**
 * Brings gobgpd's global import policy to the sessions' import rules;
 * resolves with true when it changed (then gobgpd must re-run its
 * Adj-RIB-In through it: a soft reset in).
 */
export async function ensureImportPolicy(client: GobgpClient, peers: readonly PeerConfig[]): Promise<boolean> {
  const want = buildSessionPolicy(peers, 'import');
  const assigned = await client.list('listPolicyAssignment', { name: GLOBAL_ASSIGNMENT, direction: PolicyDirection.IMPORT });
  const cur = assigned[0]?.assignment?.policies.map((p) => p.name) ?? [];
  const same = want ? cur.length === 1 && cur[0] === want.name : cur.length === 0;
  if (same) return false;
  if (want) await ensureDefined(client, want);
  await client.unary('setPolicyAssignment', {
    assignment: {
      name: GLOBAL_ASSIGNMENT,
      direction: PolicyDirection.IMPORT,
      policies: want ? [{ name: want.name }] : [],
      // Sessions without a policy (none when the agent drives us) import everything.
      defaultAction: RouteAction.ACCEPT,
    },
  });
  await deleteOthers(client, IMPORT_POLICY_PREFIX, want?.name);
  return true;
}

/**
 * Defines the export-filter policy for the sessions' export rules and
 * returns its name (to be assigned after the own-paths policy), or
 * undefined when no session has export rules.
 */
export async function defineExportFilters(client: GobgpClient, peers: readonly PeerConfig[]): Promise<string | undefined> {
  const want = buildSessionPolicy(peers, 'export');
  if (want) await ensureDefined(client, want);
  return want?.name;
}

/** Deletes export-filter policies no longer assigned. */
export async function pruneExportFilters(client: GobgpClient, keep: string | undefined): Promise<void> {
  await deleteOthers(client, EXPORT_FILTER_PREFIX, keep);
}
