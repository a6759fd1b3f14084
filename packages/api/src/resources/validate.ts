/**
 * The single gate every resource passes before it is stored or used:
 * checks apiVersion, kind, metadata and spec (no unknown field anywhere,
 * field types, per-kind rules) and returns the normalized resource with
 * defaults filled and a fixed key order, so stored objects are complete and
 * stable. Validating a normalized resource again returns an equal object.
 */
import { quote, shorten, TerraceError } from '../errors.js';
import { fromCalico } from './calico.js';
import { describeValue, Fields, isObj, type Obj } from './fields.js';
import { isKind } from './kinds.js';
import { readMetadata } from './meta.js';
import { BGPCONFIG_FIELDS, BGPPEER_FIELDS, readBGPConfigurationSpec, readBGPPeerSpec } from './spec-bgp.js';
import { BGPFILTER_FIELDS, readBGPFilterSpec } from './spec-filter.js';
import { IPAMCONFIG_FIELDS, NODE_FIELDS, readIPAMConfigSpec, readNodeSpec } from './spec-node.js';
import { IPPOOL_FIELDS, readIPPoolSpec } from './spec-pool.js';
import { REMOTECLUSTER_FIELDS, readRemoteClusterSpec } from './spec-remote.js';
import { API_VERSION, CALICO_API_VERSION, type Kind, KINDS, type ObjectMeta, type Resource, resourceRef } from './types.js';

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'] as const;

export interface ValidateOptions {
  /** Where the document came from (a file name); prefixed to error messages. */
  source?: string;
}

/** The message for a `kind` that is not ours. */
export function unknownKindMessage(kind: unknown): string {
  return `kind ${quote(kind)} is not a Terrace kind (${KINDS.join(', ')})`;
}

function readKind(doc: Obj): Kind {
  const kind = doc['kind'];
  // Calico's v3 API spells this kind out in full.
  if (kind === 'IPAMConfiguration' && doc['apiVersion'] === CALICO_API_VERSION) return 'IPAMConfig';
  if (kind === undefined || kind === null || kind === '') throw new TerraceError('Invalid', `kind is required (${KINDS.join(', ')})`);
  if (!isKind(kind)) throw new TerraceError('Invalid', unknownKindMessage(kind));
  return kind;
}

/** `ippool/a` when the name is a string; just `ippool` when it is missing. */
function refOf(kind: Kind, doc: Obj): string {
  const meta = doc['metadata'];
  const name = isObj(meta) ? meta['name'] : undefined;
  return typeof name === 'string' && name !== '' ? resourceRef(kind, shorten(name)) : kind.toLowerCase();
}

function checkName(kind: Kind, ref: string, meta: ObjectMeta): void {
  const fail = (reason: string): never => {
    throw new TerraceError('Invalid', `${ref}: metadata.name ${reason}`, { resource: ref, field: 'metadata.name' });
  };
  if (kind === 'IPAMConfig' && meta.name !== 'default') fail(`${quote(meta.name)} must be "default": there is one IPAM configuration per cluster`);
  if (kind === 'BGPConfiguration' && meta.name !== 'default' && !/^node\.[^.].*$/.test(meta.name)) {
    fail(`${quote(meta.name)} must be "default" (cluster-wide) or "node.<nodename>" (one node)`);
  }
}

function readSpec(kind: Kind, ref: string, meta: ObjectMeta, raw: unknown): Resource['spec'] {
  const open = (allowed: readonly string[]): Fields | undefined =>
    raw === undefined || raw === null ? undefined : Fields.open(ref, 'spec', raw, allowed);
  const need = (allowed: readonly string[]): Fields => {
    const f = open(allowed);
    if (!f) throw new TerraceError('Invalid', `${ref}: spec is required`, { resource: ref, field: 'spec' });
    return f;
  };
  switch (kind) {
    case 'IPPool':
      return readIPPoolSpec(need(IPPOOL_FIELDS));
    case 'BGPPeer':
      return readBGPPeerSpec(need(BGPPEER_FIELDS));
    case 'BGPConfiguration': {
      const f = open(BGPCONFIG_FIELDS);
      return f ? readBGPConfigurationSpec(f, meta.name === 'default') : {};
    }
    case 'BGPFilter': {
      const f = open(BGPFILTER_FIELDS);
      return f ? readBGPFilterSpec(f) : {};
    }
    case 'Node': {
      const f = open(NODE_FIELDS);
      return f ? readNodeSpec(f) : {};
    }
    case 'IPAMConfig':
      return readIPAMConfigSpec(open(IPAMCONFIG_FIELDS));
    case 'RemoteCluster':
      return readRemoteClusterSpec(need(REMOTECLUSTER_FIELDS), meta.name);
  }
}

function validateDoc(input: unknown): Resource {
  if (!isObj(input)) throw new TerraceError('Invalid', `a resource must be an object, got ${describeValue(input)}`);
  const kind = readKind(input);
  let ref = refOf(kind, input);
  const apiVersion = input['apiVersion'];
  let doc = input;
  if (apiVersion === CALICO_API_VERSION) {
    doc = fromCalico(kind, ref, { ...input, kind });
  } else if (apiVersion !== API_VERSION) {
    const shown = apiVersion === undefined || apiVersion === null ? 'apiVersion is required' : `apiVersion ${quote(apiVersion)} is not supported`;
    throw new TerraceError('Invalid', `${ref}: ${shown}; use ${API_VERSION} (or ${CALICO_API_VERSION} for calicoctl manifests)`, {
      resource: ref,
      field: 'apiVersion',
    });
  }
  new Fields(ref, '', doc, TOP_FIELDS);
  if (doc['metadata'] === undefined || doc['metadata'] === null) {
    throw new TerraceError('Invalid', `${ref}: metadata.name is required`, { resource: ref, field: 'metadata.name' });
  }
  const metadata = readMetadata(ref, doc['metadata']);
  ref = resourceRef(kind, metadata.name);
  checkName(kind, ref, metadata);
  const spec = readSpec(kind, ref, metadata, doc['spec']);
  return { apiVersion: API_VERSION, kind, metadata, spec } as Resource;
}

/**
 * Validates one decoded document (terrace.dev/v1, or projectcalico.org/v3 for
 * the kinds Calico shares) and returns it normalized as terrace.dev/v1.
 * Throws TerraceError('Invalid') naming the resource, the field and the reason.
 */
export function validateResource(input: unknown, opts: ValidateOptions = {}): Resource {
  try {
    return validateDoc(input);
  } catch (e) {
    if (e instanceof TerraceError && opts.source !== undefined) {
      throw new TerraceError(e.code, `${opts.source}: ${e.message}`, { resource: e.resource, field: e.field, cause: e });
    }
    throw e;
  }
}
