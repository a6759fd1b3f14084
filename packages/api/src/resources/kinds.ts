/**
 * Kind names as operators type them on the command line (`terracectl get
 * pools`), resolved case-insensitively to the one Kind they mean.
 */
import { quote, TerraceError } from '../errors.js';
import { type Kind, KINDS } from './types.js';

const ALIASES: Record<Kind, readonly string[]> = {
  IPPool: ['ippool', 'ippools', 'pool', 'pools'],
  BGPPeer: ['bgppeer', 'bgppeers', 'peer', 'peers'],
  BGPConfiguration: ['bgpconfiguration', 'bgpconfigurations', 'bgpconfig', 'bgpconfigs'],
  BGPFilter: ['bgpfilter', 'bgpfilters', 'filter', 'filters'],
  Node: ['node', 'nodes', 'no'],
  IPAMConfig: ['ipamconfig', 'ipamconfigs', 'ipamconfiguration', 'ipamconfigurations'],
  RemoteCluster: ['remotecluster', 'remoteclusters', 'remote', 'remotes'],
};

const BY_ALIAS: ReadonlyMap<string, Kind> = new Map(
  KINDS.flatMap((k) => ALIASES[k].map((a): [string, Kind] => [a, k])),
);

/** The aliases accepted for a kind, the canonical singular first. */
export function kindAliases(kind: Kind): readonly string[] {
  return ALIASES[kind];
}

export function tryResolveKind(alias: string): Kind | undefined {
  return BY_ALIAS.get(alias.trim().toLowerCase());
}

export function resolveKind(alias: string): Kind {
  const k = tryResolveKind(alias);
  if (k) return k;
  throw new TerraceError(
    'Invalid',
    `unknown kind ${quote(alias)}; known kinds: ${KINDS.map((x) => `${x} (${ALIASES[x].slice(1).join(', ')})`).join(', ')}`,
  );
}

/** True when `s` names a Terrace kind exactly as written in a manifest's `kind` field. */
export function isKind(s: unknown): s is Kind {
  return typeof s === 'string' && (KINDS as readonly string[]).includes(s);
}
