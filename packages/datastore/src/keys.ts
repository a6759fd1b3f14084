/**
 * The etcd key layout, in one place. Every key Terrace reads or writes is
 * built and parsed here; no other module concatenates key strings.
 *
 *   /terrace/v1/<cluster>/resources/<kind-plural>/<name>   resource JSON
 *   /terrace/v1/<cluster>/guards/<name>                    guard keys bumped by atomic cross-resource writes
 *   /terrace/v1/<cluster>/ipam/blocks/<cidr, "/" as "-">   IPAM block
 *   /terrace/v1/<cluster>/ipam/affinity/<node>/<cidr>      "pending" | "confirmed"
 *   /terrace/v1/<cluster>/ipam/handles/<handle>            handle → blocks
 *   /terrace/v1/<cluster>/nodes/alive/<node>               bound to the agent's lease
 *   /terrace/v1/<cluster>/nodes/status/<node>              agent-published BGP/route status
 *   /terrace/v1/<cluster>/controller/leader                leader election
 *   /terrace/v1/<cluster>/controller/leader/election/...   the candidates' lease-bound keys
 *   /terrace/v1/<cluster>/controller/status                the acting controller's last report
 *   /terrace/v1/<cluster>/controller/events                recent events the acting controller recorded
 *   /terrace/v1/<cluster>/multicluster/remotes/<name>      the controller's cached view of a RemoteCluster
 *   /terrace/v1/<cluster>/multicluster/fence               pools held and ranges fenced from allocation
 *   /terrace/v1/<cluster>/queries/<id>                     a route query (route-query.ts), bound to the asker's lease
 *   /terrace/v1/<cluster>/query-answers/<id>/<node>        an agent's answer, bound to the lease the query names
 */
import { type Cidr, type Kind, KIND_PLURAL, KINDS, dnsSubdomainProblem, formatCidr, parseCidr } from '@terrace/api';

export const ROOT = '/terrace/v1/';
export const DEFAULT_CLUSTER = 'default';

/** `10.0.0.0/26` → `10.0.0.0-26` (a key segment without a slash). */
export function cidrToSegment(c: Cidr | string): string {
  return (typeof c === 'string' ? c : formatCidr(c)).replace('/', '-');
}

export function segmentToCidr(seg: string): Cidr {
  const i = seg.lastIndexOf('-');
  return parseCidr(`${seg.slice(0, i)}/${seg.slice(i + 1)}`);
}

/** Why `cluster` cannot name a cluster (the key prefix /terrace/v1/<cluster>/), or undefined: a DNS-1123 subdomain, as resource names. */
export function clusterNameProblem(cluster: string): string | undefined {
  return dnsSubdomainProblem(cluster);
}

export class Keys {
  readonly prefix: string;
  constructor(readonly cluster: string = DEFAULT_CLUSTER) {
    const problem = clusterNameProblem(cluster);
    if (problem) throw new Error(`cluster name "${cluster}" ${problem}`);
    this.prefix = `${ROOT}${cluster}/`;
  }

  // Resources
  resourcePrefix(kind: Kind): string {
    return `${this.prefix}resources/${KIND_PLURAL[kind]}/`;
  }
  resource(kind: Kind, name: string): string {
    return this.resourcePrefix(kind) + name;
  }
  allResourcesPrefix(): string {
    return `${this.prefix}resources/`;
  }
  /** Parses a resource key back into kind and name, or undefined if it is not one. */
  parseResource(key: string): { kind: Kind; name: string } | undefined {
    const base = this.allResourcesPrefix();
    if (!key.startsWith(base)) return undefined;
    const [plural, ...rest] = key.slice(base.length).split('/');
    const kind = KINDS.find((k) => KIND_PLURAL[k] === plural);
    if (!kind || rest.length !== 1 || !rest[0]) return undefined;
    return { kind, name: rest[0] };
  }

  guard(name: string): string {
    return `${this.prefix}guards/${name}`;
  }

  // IPAM
  blockPrefix(): string {
    return `${this.prefix}ipam/blocks/`;
  }
  block(cidr: Cidr | string): string {
    return this.blockPrefix() + cidrToSegment(cidr);
  }
  parseBlock(key: string): Cidr | undefined {
    return key.startsWith(this.blockPrefix()) ? segmentToCidr(key.slice(this.blockPrefix().length)) : undefined;
  }
  affinityPrefix(node?: string): string {
    return `${this.prefix}ipam/affinity/${node === undefined ? '' : `${node}/`}`;
  }
  affinity(node: string, cidr: Cidr | string): string {
    return this.affinityPrefix(node) + cidrToSegment(cidr);
  }
  parseAffinity(key: string): { node: string; cidr: Cidr } | undefined {
    const base = this.affinityPrefix();
    if (!key.startsWith(base)) return undefined;
    const [node, seg] = key.slice(base.length).split('/');
    return node && seg ? { node, cidr: segmentToCidr(seg) } : undefined;
  }
  handlePrefix(): string {
    return `${this.prefix}ipam/handles/`;
  }
  handle(handleId: string): string {
    return this.handlePrefix() + handleId;
  }

  // Nodes
  alivePrefix(): string {
    return `${this.prefix}nodes/alive/`;
  }
  alive(node: string): string {
    return this.alivePrefix() + node;
  }
  statusPrefix(): string {
    return `${this.prefix}nodes/status/`;
  }
  status(node: string): string {
    return this.statusPrefix() + node;
  }

  // Controller
  leader(): string {
    return `${this.prefix}controller/leader`;
  }
  /** The namespace the controllers' etcd election keeps its candidate keys under. */
  leaderElectionPrefix(): string {
    return `${this.leader()}/`;
  }
  /** The status record the acting controller writes after every pass. */
  controllerStatus(): string {
    return `${this.prefix}controller/status`;
  }
  /** Recent events (node lost, addresses freed, ...), a bounded list the acting controller appends to. */
  controllerEvents(): string {
    return `${this.prefix}controller/events`;
  }

  // Multi-cluster (written by the acting controller only)
  remoteStatePrefix(): string {
    return `${this.prefix}multicluster/remotes/`;
  }
  remoteState(name: string): string {
    return this.remoteStatePrefix() + name;
  }
  fence(): string {
    return `${this.prefix}multicluster/fence`;
  }

  // Route queries (asked by the controller and terracectl, answered by agents)
  queryPrefix(): string {
    return `${this.prefix}queries/`;
  }
  query(id: string): string {
    return this.queryPrefix() + id;
  }
  queryAnswerPrefix(id?: string): string {
    return `${this.prefix}query-answers/${id === undefined ? '' : `${id}/`}`;
  }
  queryAnswer(id: string, node: string): string {
    return this.queryAnswerPrefix(id) + node;
  }
  /** The query id and answering node of an answer key, or undefined if it is not one. */
  parseQueryAnswer(key: string): { id: string; node: string } | undefined {
    const base = this.queryAnswerPrefix();
    if (!key.startsWith(base)) return undefined;
    const [id, node, ...rest] = key.slice(base.length).split('/');
    return id && node && rest.length === 0 ? { id, node } : undefined;
  }
}
