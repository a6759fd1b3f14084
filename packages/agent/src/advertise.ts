/**
 * What BGPConfiguration adds to a node's announcements, as Calico does:
 *
 * - `prefixAdvertisements`: every announced prefix inside (or equal to) an
 *   advertisement's cidr carries that advertisement's communities; several
 *   matching advertisements add up. A reference is a name from
 *   `communities` or a literal `aa:nn` / large `aa:nn:mm`.
 * - `serviceClusterIPs`, `serviceExternalIPs`, `serviceLoadBalancerIPs`:
 *   every node announces each of these cidrs with its own address as next
 *   hop, and the ToR spreads the traffic over all nodes (ECMP); forwarding
 *   to a backend is kube-proxy's job on whichever node receives it.
 *
 * The service ranges come from the `default` BGPConfiguration (validation
 * refuses them elsewhere). A node's `node.<name>` configuration that sets
 * prefixAdvertisements replaces the default's, together with its own
 * `communities` (its names refer to those). Pure.
 */
import {
  type BGPConfiguration,
  type BGPConfigurationSpec,
  type Cidr,
  type IPPool,
  SERVICE_RANGE_FIELDS,
  cidrContainsCidr,
  cidrsOverlap,
  communityValueProblem,
  formatCidr,
  resourceRef,
  tryParseCidr,
} from '@terrace/api';
import { DEFAULT_CONFIG_NAME, nodeConfigName } from './peers.js';

export interface ServiceRange {
  cidr: Cidr;
  /** The field it came from, for messages. */
  field: (typeof SERVICE_RANGE_FIELDS)[number];
}

export interface AdvertisePlan {
  /** The community values (sorted, distinct) an announced prefix carries. */
  communitiesFor(c: Cidr): string[];
  /** The service cidrs every node announces, in the order written, without repeats. */
  services: ServiceRange[];
  problems: string[];
}

const CONFIG = resourceRef('BGPConfiguration', DEFAULT_CONFIG_NAME);

/** The settings planAdvertisements reads for node `nodeName`, from `default` and its own configuration. */
export function announceConfig(configs: readonly BGPConfiguration[], nodeName: string): BGPConfigurationSpec | undefined {
  const def = configs.find((c) => c.metadata.name === DEFAULT_CONFIG_NAME)?.spec;
  const own = configs.find((c) => c.metadata.name === nodeConfigName(nodeName))?.spec;
  if (!own?.prefixAdvertisements) return def;
  const out: BGPConfigurationSpec = { ...def, prefixAdvertisements: own.prefixAdvertisements };
  if (own.communities) out.communities = own.communities;
  else delete out.communities;
  return out;
}

export function planAdvertisements(spec: BGPConfigurationSpec | undefined, pools: readonly IPPool[]): AdvertisePlan {
  const problems: string[] = [];
  const named = new Map((spec?.communities ?? []).map((c) => [c.name, c.value]));
  const ads: { cidr: Cidr; values: string[] }[] = [];
  for (const [i, ad] of (spec?.prefixAdvertisements ?? []).entries()) {
    const cidr = tryParseCidr(ad.cidr);
    if (!cidr) continue; // validated on write; a stored bad value is skipped, not guessed at
    const values: string[] = [];
    for (const ref of ad.communities) {
      const v = named.get(ref) ?? ref;
      const p = communityValueProblem(v);
      if (p) problems.push(`${CONFIG}: spec.prefixAdvertisements[${i}].communities ${JSON.stringify(ref)}: ${p}; not attached`);
      else values.push(v);
    }
    ads.push({ cidr, values });
  }

  const services: ServiceRange[] = [];
  const seen = new Set<string>();
  for (const field of SERVICE_RANGE_FIELDS) {
    for (const item of spec?.[field] ?? []) {
      const cidr = tryParseCidr(item.cidr);
      if (!cidr || seen.has(formatCidr(cidr))) continue;
      seen.add(formatCidr(cidr));
      services.push({ cidr, field });
      // Announced anyway: the pool's blocks are longer prefixes and still win
      // for pod addresses, but pods may be given addresses meant for services.
      const pool = pools.find((p) => {
        const pc = tryParseCidr(p.spec.cidr);
        return pc !== undefined && cidrsOverlap(pc, cidr);
      });
      if (pool) {
        problems.push(
          `${CONFIG}: spec.${field} ${formatCidr(cidr)} overlaps ${resourceRef('IPPool', pool.metadata.name)} (${pool.spec.cidr}); pods and services may be given the same addresses`,
        );
      }
    }
  }

  const communitiesFor = (c: Cidr): string[] => {
    const out = new Set<string>();
    for (const ad of ads) if (cidrContainsCidr(ad.cidr, c)) for (const v of ad.values) out.add(v);
    return [...out].sort();
  };
  return { communitiesFor, services, problems };
}
