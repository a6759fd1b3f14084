/**
 * Manifests written for calicoctl (apiVersion projectcalico.org/v3) are
 * accepted as they are for the kinds Terrace shares with Calico. The field
 * spellings we accept are exactly Calico's, so conversion is a change of
 * apiVersion; what needs care is the fields Calico has and Terrace does not:
 * each is refused by name with what to do instead, never dropped.
 */
import { invalidField, quote } from '../errors.js';
import { isObj, joinPath, type Obj } from './fields.js';
import { API_VERSION, type Kind } from './types.js';

const OVERLAY = 'Terrace is overlay-free and routes pod traffic natively';

/** Calico-only fields, by kind and the object path that holds them, with the advice we give. */
const CALICO_ONLY: Partial<Record<Kind, Record<string, Record<string, string>>>> = {
  IPPool: {
    spec: {
      ipip: `it configures an IP-in-IP overlay and ${OVERLAY}; remove it`,
      'nat-outgoing': 'it is the deprecated spelling; use natOutgoing',
      awsSubnetID: 'Terrace has no AWS subnet integration',
    },
  },
  BGPPeer: {
    spec: {
      keepOriginalNextHop: 'use nextHopMode: Keep',
      restartMode: 'graceful restart is on by default; set maxRestartTime to tune it, or to 0s to turn it off',
      birdGatewayMode: '',
      numAllowedLocalASNumbers: '',
      localASNumber: 'set the node AS number on the Node or BGPConfiguration',
      localWorkloadSelector: '',
      reachableBy: '',
    },
  },
  BGPConfiguration: {
    spec: {
      bindMode: '',
      ignoredInterfaces: '',
      localWorkloadPeeringIPV4: '',
      localWorkloadPeeringIPV6: '',
      programClusterRoutes: '',
    },
  },
  Node: {
    '': { status: 'it is written by Calico and cannot be applied; remove it' },
    spec: {
      ipv4VXLANTunnelAddr: `it configures a VXLAN overlay and ${OVERLAY}; remove it`,
      ipv6VXLANTunnelAddr: `it configures a VXLAN overlay and ${OVERLAY}; remove it`,
      vxlanTunnelMACAddr: `it configures a VXLAN overlay and ${OVERLAY}; remove it`,
      vxlanTunnelMACAddrV6: `it configures a VXLAN overlay and ${OVERLAY}; remove it`,
      wireguard: 'Terrace has no WireGuard encryption',
      orchRefs: '',
      addresses: 'give the BGP address in spec.bgp.ipv4Address / ipv6Address',
      interfaceName: '',
    },
    'spec.bgp': {
      ipv4IPIPTunnelAddr: `it configures an IP-in-IP overlay and ${OVERLAY}; remove it`,
    },
  },
  IPAMConfig: {
    spec: { kubeVirtVMAddressPersistence: '' },
  },
};

function lookup(doc: Obj, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path === '' ? [] : path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/**
 * Converts a projectcalico.org/v3 document of a shared kind to terrace.dev/v1,
 * refusing Calico-only fields by name. The result still goes through
 * validateResource like any other document.
 */
export function fromCalico(kind: Kind, ref: string, doc: Obj): Obj {
  for (const [path, fields] of Object.entries(CALICO_ONLY[kind] ?? {})) {
    const obj = lookup(doc, path);
    if (!isObj(obj)) continue;
    for (const [field, advice] of Object.entries(fields)) {
      if (field in obj) throw invalidField(ref, joinPath(path, field), `is a Calico field Terrace does not support${advice ? `: ${advice}` : ''}`);
    }
  }
  return { ...convertBfd(kind, ref, doc), apiVersion: API_VERSION };
}

/**
 * Calico's BGPPeer `failureDetectionMode: BFDIfDirectlyConnected` is our
 * `bfd: {}` (BFD with the defaults; our peers are directly connected or use
 * ttlSecurity/multihop, where BIRD runs multihop BFD); `None` is no BFD.
 */
function convertBfd(kind: Kind, ref: string, doc: Obj): Obj {
  const spec = doc['spec'];
  if (kind !== 'BGPPeer' || !isObj(spec) || !('failureDetectionMode' in spec)) return doc;
  const { failureDetectionMode: mode, ...rest } = spec;
  if (mode === 'None') return { ...doc, spec: rest };
  if (mode === 'BFDIfDirectlyConnected') return { ...doc, spec: { ...rest, bfd: isObj(rest['bfd']) ? rest['bfd'] : {} } };
  throw invalidField(ref, 'spec.failureDetectionMode', `${quote(String(mode))} is not None or BFDIfDirectlyConnected`);
}
