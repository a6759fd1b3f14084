/**
 * The handle of a pod interface: the one place that turns a CNI
 * (network, containerID, ifname) triple into an IPAM handle.
 *
 *   <network>:<containerID>:<ifname, escaped>
 *
 * - network and containerID follow the CNI rules, [A-Za-z0-9][A-Za-z0-9_.-]*
 *   (checked here), so neither holds ':' or '@'.
 * - ifname may hold nearly any character; every UTF-8 byte outside
 *   [A-Za-z0-9_.-] is written `@xx` (lower-case hex). Escaping is one to one
 *   and never yields ':'.
 * - So the two colons split a handle in exactly one way: two different
 *   triples never share a handle.
 * - When that is longer than an etcd key segment may be (253), the
 *   containerID is cut and followed by `@` and 128 bits of a SHA-256 of the
 *   whole triple: `<network>:<containerID prefix>@<32 hex>:<ifname>`. A
 *   containerID holds no '@', so this long form never equals a short one,
 *   and two long forms are equal only if their digests are.
 *
 * The old form, `<network>.<containerID>.<ifname>`, was ambiguous (ids may
 * hold dots: x1.eth0 + eth1 and x1 + eth0.eth1 gave one handle, hence one
 * address). It never holds ':', so no new handle equals an old one; old
 * handles are still released, by releasePod (release.ts), but only where the
 * allocation's own containerID and iface name the interface being deleted.
 */
import { createHash } from 'node:crypto';
import { TerraceError } from '@terrace/api';
import { validateHandle } from './handle.js';

/** A pod interface as CNI names it. */
export interface PodRef {
  /** The network's name from the CNI config. */
  network: string;
  containerId: string;
  ifname: string;
}

const MAX_HANDLE = 253;
/** The CNI rule for network names and container ids. */
const CNI_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SAFE_BYTE = /[A-Za-z0-9_.-]/;
const DIGEST_HEX = 32;

function escapeIfname(ifname: string): string {
  let out = '';
  for (const byte of Buffer.from(ifname, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE_BYTE.test(ch) ? ch : `@${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function unescapeIfname(text: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch !== '@') {
      if (!SAFE_BYTE.test(ch)) return undefined;
      bytes.push(ch.charCodeAt(0));
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

function digest(p: PodRef): string {
  return createHash('sha256')
    .update(JSON.stringify([p.network, p.containerId, p.ifname]))
    .digest('hex')
    .slice(0, DIGEST_HEX);
}

/** The handle of a pod interface. Fails with Invalid (naming the field) on ids CNI would refuse. */
export function podHandle(network: string, containerId: string, ifname: string): string {
  if (!CNI_ID.test(network)) {
    throw new TerraceError('Invalid', `network name ${JSON.stringify(network)} must be letters, digits, "_", "." and "-", starting with a letter or digit`, { field: 'network' });
  }
  if (!CNI_ID.test(containerId)) {
    throw new TerraceError('Invalid', `container id ${JSON.stringify(containerId)} must be letters, digits, "_", "." and "-", starting with a letter or digit`, { field: 'containerId' });
  }
  if (ifname === '') throw new TerraceError('Invalid', 'interface name is empty', { field: 'ifname' });
  const ifn = escapeIfname(ifname);
  const short = `${network}:${containerId}:${ifn}`;
  if (short.length <= MAX_HANDLE) return validateHandle(short);
  const room = MAX_HANDLE - network.length - ifn.length - DIGEST_HEX - 3;
  if (room < 1) {
    throw new TerraceError('Invalid', `network name ${JSON.stringify(network)} with interface ${JSON.stringify(ifname)} is too long for a pod handle (${MAX_HANDLE} characters)`, {
      field: 'network',
    });
  }
  return validateHandle(`${network}:${containerId.slice(0, room)}@${digest({ network, containerId, ifname })}:${ifn}`);
}

/**
 * What a pod handle says: its network and ifname, and its containerID
 * unless the handle is the long form (then only a prefix is kept).
 * Undefined for any other handle, including the old dotted form.
 */
export function parsePodHandle(handle: string): { network: string; containerId?: string; ifname: string } | undefined {
  const parts = handle.split(':');
  if (parts.length !== 3) return undefined;
  const [network, middle, ifn] = parts as [string, string, string];
  const ifname = unescapeIfname(ifn);
  if (!CNI_ID.test(network) || ifname === undefined || ifname === '') return undefined;
  if (CNI_ID.test(middle)) return { network, containerId: middle, ifname };
  return new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]*@[0-9a-f]{${DIGEST_HEX}}$`).test(middle) ? { network, ifname } : undefined;
}

/**
 * The handle an older agent gave this interface, `<network>.<containerID>.<ifname>`,
 * or undefined when that is no valid handle (then no older agent can have stored it).
 */
export function legacyPodHandle(network: string, containerId: string, ifname: string): string | undefined {
  const h = `${network}.${containerId}.${ifname}`;
  try {
    return validateHandle(h);
  } catch {
    return undefined;
  }
}

/**
 * Whether `handle` is, in either form, the handle of the interface
 * (containerId, ifname) on some network; for the old form, whichever
 * network that would be. Used to tell whether an allocation's own
 * attributes agree with the handle that holds it.
 */
export function handleNamesInterface(handle: string, containerId: string, ifname: string): boolean {
  const p = parsePodHandle(handle);
  if (p) {
    try {
      return podHandle(p.network, containerId, ifname) === handle;
    } catch {
      return false;
    }
  }
  const tail = `.${containerId}.${ifname}`;
  return handle.length > tail.length && handle.endsWith(tail);
}

/**
 * Whether `handle` is this interface's handle on `network`, in the current
 * or the old form. False for ids CNI would refuse (no pod has them), so it
 * can be asked of any allocation's attributes without throwing.
 */
export function isPodHandleOf(handle: string, pod: PodRef): boolean {
  let current: string;
  try {
    current = podHandle(pod.network, pod.containerId, pod.ifname);
  } catch {
    return false;
  }
  return handle === current || handle === legacyPodHandle(pod.network, pod.containerId, pod.ifname);
}
