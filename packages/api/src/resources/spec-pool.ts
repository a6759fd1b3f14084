/**
 * IPPool: a CIDR that pod addresses come from, cut into blocks that nodes
 * own and announce. Terrace routes natively, so the overlay modes Calico
 * offers are refused with a plain explanation rather than ignored.
 */
import { quote } from '../errors.js';
import { parseCidr } from '../net/ip.js';
import { reservedProblem } from '../net/reserved.js';
import type { Fields } from './fields.js';
import { validateSelectorField } from './selector.js';
import type { AllowedUse, AssignmentMode, IPPoolSpec } from './types.js';
import { readCidr } from './values.js';

export const IPPOOL_FIELDS = [
  'cidr', 'blockSize', 'nodeSelector', 'disabled', 'disableBGPExport', 'natOutgoing',
  'allowedUses', 'assignmentMode', 'ipipMode', 'vxlanMode',
] as const;

const ALLOWED_USES: readonly AllowedUse[] = ['Workload', 'Tunnel', 'LoadBalancer'];
const DEFAULT_ALLOWED_USES: readonly AllowedUse[] = ['Workload', 'Tunnel'];

/** The message for any overlay mode: say why and what to write instead. */
export function overlayRefusal(value: string): string {
  return `${quote(value)} is not supported: Terrace is overlay-free and routes pod traffic natively; use Never`;
}

function readOverlayMode(f: Fields, key: 'ipipMode' | 'vxlanMode'): 'Never' {
  const v = f.string(key);
  if (v === undefined || v === 'Never') return 'Never';
  return f.fail(key, overlayRefusal(v));
}

export function readIPPoolSpec(f: Fields): IPPoolSpec {
  const cidr = readCidr(f, 'cidr');
  const pool = parseCidr(cidr);
  const reserved = reservedProblem(pool);
  if (reserved) f.fail('cidr', reserved);
  const v4 = pool.family === 4;
  const [min, max] = v4 ? [20, 32] : [116, 128];
  const blockSize = f.raw('blockSize') === undefined ? (v4 ? 26 : 122) : (f.int('blockSize', 0, 128) as number);
  if (blockSize < min || blockSize > max) {
    f.fail('blockSize', `${blockSize} is out of range ${min}–${max} for an IPv${pool.family} pool`);
  }
  if (blockSize < pool.prefix) {
    f.fail('blockSize', `${blockSize} is larger than the pool ${cidr}; use a block size of at least ${pool.prefix}`);
  }

  const nodeSelector = (f.string('nodeSelector') ?? '').trim() || 'all()';
  validateSelectorField(f.ref, f.at('nodeSelector'), nodeSelector);

  const uses = f.list('allowedUses') ?? [];
  const allowedUses: AllowedUse[] = [];
  uses.forEach((u, i) => {
    if (typeof u !== 'string' || !(ALLOWED_USES as readonly string[]).includes(u)) {
      f.fail('allowedUses', `[${i}] ${quote(u)} is not one of ${ALLOWED_USES.join(', ')}`);
    }
    if (allowedUses.includes(u as AllowedUse)) f.fail('allowedUses', `lists ${u} twice`);
    allowedUses.push(u as AllowedUse);
  });

  return {
    cidr,
    blockSize,
    nodeSelector,
    disabled: f.bool('disabled') ?? false,
    disableBGPExport: f.bool('disableBGPExport') ?? false,
    natOutgoing: f.bool('natOutgoing') ?? false,
    // As in Calico, an empty list means the default uses.
    allowedUses: allowedUses.length > 0 ? allowedUses : [...DEFAULT_ALLOWED_USES],
    assignmentMode: f.oneOf<AssignmentMode>('assignmentMode', ['Automatic', 'Manual']) ?? 'Automatic',
    ipipMode: readOverlayMode(f, 'ipipMode'),
    vxlanMode: readOverlayMode(f, 'vxlanMode'),
  };
}
