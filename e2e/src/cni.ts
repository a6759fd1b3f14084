/**
 * Calls the real CNI plugin the way a container runtime does: the spec's
 * environment variables, the network configuration on stdin (the conflist's
 * plugin entry with the list's `cniVersion` and `name` merged in), and the
 * result or error JSON on stdout. The plugin runs inside the node's
 * namespace, where its agent lives.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Lab } from '@terrace/testkit';
import { NETWORK_NAME } from './plan.js';
import { cleanEnv, runIn } from './proc.js';

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION';
  /** The node namespace the plugin runs in (the "host"). */
  nodeNs: string;
  /** Directory holding the plugin as `terrace` (CNI_PATH). */
  cniPath: string;
  agentSocket: string;
  containerId?: string;
  /** The pod's namespace name (CNI_NETNS is /var/run/netns/<name>); absent for a DEL after the pod is gone. */
  podNs?: string;
  podName?: string;
  podNamespace?: string;
  /** IPv4 pools to allocate from, in order (default: every pool the node may use). */
  ipv4Pools?: readonly string[];
  /** IPv6 pools to allocate from; when given, the pod also gets an IPv6 address. */
  ipv6Pools?: readonly string[];
  prevResult?: unknown;
}

export interface CniOutcome {
  code: number | null;
  /** The parsed stdout (result or error JSON); undefined when stdout was empty. */
  json: Record<string, unknown> | undefined;
  stderr: string;
  /** From spawning the plugin to its exit, in ms. */
  ms: number;
}

/** Each lab node's CNI state directory: beside its agent's socket. */
export function cniStateDir(agentSocket: string): string {
  return join(dirname(agentSocket), 'cni-state');
}

/** The plugin's configuration as a runtime hands it over on stdin. */
export function netConf(agentSocket: string, ipv4Pools: readonly string[] = [], prevResult?: unknown, ipv6Pools?: readonly string[]): Record<string, unknown> {
  const conf: Record<string, unknown> = {
    cniVersion: '1.1.0',
    name: NETWORK_NAME,
    type: 'terrace',
    agentSocket,
    stateDir: cniStateDir(agentSocket),
    timeoutSeconds: 20,
    ipam: {
      assignIpv4: true,
      assignIpv6: ipv6Pools !== undefined,
      ...(ipv4Pools.length ? { ipv4Pools: [...ipv4Pools] } : {}),
      ...(ipv6Pools?.length ? { ipv6Pools: [...ipv6Pools] } : {}),
    },
  };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

export async function callCni(c: CniCall): Promise<CniOutcome> {
  const env: NodeJS.ProcessEnv = { CNI_COMMAND: c.command, CNI_PATH: c.cniPath };
  if (c.containerId !== undefined) env.CNI_CONTAINERID = c.containerId;
  if (c.podNs !== undefined) env.CNI_NETNS = `/var/run/netns/${c.podNs}`;
  if (c.command !== 'VERSION' && c.command !== 'STATUS') env.CNI_IFNAME = 'eth0';
  if (c.podName !== undefined) {
    env.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=${c.podNamespace ?? 'default'};K8S_POD_NAME=${c.podName};K8S_POD_INFRA_CONTAINER_ID=${c.containerId ?? ''}`;
  }
  const r = await runIn(c.nodeNs, `${c.cniPath}/terrace`, [], {
    env: cleanEnv(env),
    input: JSON.stringify(netConf(c.agentSocket, c.ipv4Pools, c.prevResult, c.ipv6Pools)),
    timeoutMs: 30000,
  });
  let json: Record<string, unknown> | undefined;
  const text = r.stdout.trim();
  if (text !== '') {
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`terrace CNI ${c.command} on ${c.nodeNs}: stdout is not JSON: ${text.slice(0, 300)}`);
    }
  }
  return { code: r.code, json, stderr: r.stderr, ms: r.ms };
}

/** The pod's IPv4 address (without length) from an ADD result. */
export function resultIPv4(result: Record<string, unknown>): string {
  const ips = result.ips as { address?: string }[] | undefined;
  const v4 = ips?.map((i) => i.address ?? '').find((a) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(a));
  if (!v4) throw new Error(`CNI result has no IPv4 address: ${JSON.stringify(result)}`);
  return v4.split('/')[0] as string;
}

/** The pod's IPv6 address (without length) from an ADD result. */
export function resultIPv6(result: Record<string, unknown>): string {
  const ips = result.ips as { address?: string }[] | undefined;
  const v6 = ips?.map((i) => i.address ?? '').find((a) => a.includes(':'));
  if (!v6) throw new Error(`CNI result has no IPv6 address: ${JSON.stringify(result)}`);
  return v6.split('/')[0] as string;
}

export class CniFailure extends Error {
  constructor(
    readonly command: string,
    readonly outcome: CniOutcome,
  ) {
    super(`terrace CNI ${command} exited ${outcome.code}: ${JSON.stringify(outcome.json)} ${outcome.stderr.trim()}`);
  }
}

/**
 * A pod as a runtime makes one: a namespace `pod-<name>` and a CNI ADD for it
 * through the real plugin (a fresh container ID). A failed ADD throws
 * CniFailure and the namespace goes again.
 */
export async function addPodThroughCni(
  kit: Lab,
  name: string,
  call: Omit<CniCall, 'command' | 'containerId' | 'podNs' | 'podName'>,
): Promise<{ ns: string; containerId: string; out: CniOutcome; result: Record<string, unknown> }> {
  const ns = await kit.addNamespace(`pod-${name}`);
  const containerId = randomBytes(16).toString('hex');
  try {
    const out = await callCni({ ...call, command: 'ADD', containerId, podNs: ns, podName: name });
    if (out.code !== 0 || !out.json) throw new CniFailure('ADD', out);
    return { ns, containerId, out, result: out.json };
  } catch (e) {
    await kit.removeNamespace(ns);
    throw e;
  }
}
