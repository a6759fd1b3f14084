/**
 * Where the etcd connection settings come from. Each setting is resolved on
 * its own, first match wins: command-line flag, then environment variable,
 * then the config file (`--config`, `TERRACE_CONFIG`, else
 * /etc/terrace/terrace.yaml when it exists), then the built-in default.
 *
 * Every resolved value remembers where it came from, so that a bad value is
 * reported as e.g. `environment TERRACE_ETCD_ENDPOINTS: "foo" is not a URL`
 * and the operator knows which knob to turn.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve as resolvePath } from 'node:path';
import { quote, TerraceError } from '@terrace/api';
import type * as Yaml from 'yaml';
import { DEFAULT_CLUSTER, clusterNameProblem } from './keys.js';

// Loaded only when a config file is read: most runs have none, and the YAML
// library is a noticeable part of a CLI's cold start.
const requireHere = createRequire(import.meta.url);

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';
export const DEFAULT_CONFIG_PATH = '/etc/terrace/terrace.yaml';

/** The flags terracectl (and the daemons) accept; all optional. */
export interface ConnectionFlags {
  /** Comma-separated URLs. */
  etcdEndpoints?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUsername?: string;
  etcdPassword?: string;
  cluster?: string;
  config?: string;
}

/** The connection flags every Terrace program accepts, as commander [flags, description]. */
export const CONNECTION_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['--etcd-endpoints <urls>', 'comma-separated etcd URLs (env TERRACE_ETCD_ENDPOINTS)'],
  ['--etcd-ca <file>', 'CA certificate for etcd TLS (env TERRACE_ETCD_CA)'],
  ['--etcd-cert <file>', 'client certificate for etcd TLS (env TERRACE_ETCD_CERT)'],
  ['--etcd-key <file>', 'client key for etcd TLS (env TERRACE_ETCD_KEY)'],
  ['--etcd-username <name>', 'etcd user (env TERRACE_ETCD_USERNAME)'],
  ['--etcd-password <password>', 'etcd password (env TERRACE_ETCD_PASSWORD)'],
  ['--cluster <name>', 'cluster name: the etcd key prefix /terrace/v1/<name>/ (env TERRACE_CLUSTER)'],
  ['--config <file>', `config file (default ${DEFAULT_CONFIG_PATH})`],
];

/** Adds CONNECTION_FLAGS to a commander command (typed structurally: no commander import here). */
export function withConnectionOptions<T extends { option(flags: string, description: string): unknown }>(cmd: T): T {
  for (const [flags, description] of CONNECTION_FLAGS) cmd.option(flags, description);
  return cmd;
}

export type Setting = 'endpoints' | 'ca' | 'cert' | 'key' | 'username' | 'password' | 'cluster';

export interface ConnectionConfig {
  /** Normalised URLs, all http:// or all https://. */
  endpoints: string[];
  /** File paths (absolute when they came from a config file). */
  ca?: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
  cluster: string;
  /** Where each setting that is present came from, e.g. `flag --etcd-ca`. */
  sources: Partial<Record<Setting, string>>;
  /** The config file that was read, if any. */
  configFile?: string;
}

const FLAG_NAMES: Record<Setting, { flag: keyof ConnectionFlags; cli: string; env: string; file: string }> = {
  endpoints: { flag: 'etcdEndpoints', cli: '--etcd-endpoints', env: 'TERRACE_ETCD_ENDPOINTS', file: 'etcd.endpoints' },
  ca: { flag: 'etcdCa', cli: '--etcd-ca', env: 'TERRACE_ETCD_CA', file: 'etcd.ca' },
  cert: { flag: 'etcdCert', cli: '--etcd-cert', env: 'TERRACE_ETCD_CERT', file: 'etcd.cert' },
  key: { flag: 'etcdKey', cli: '--etcd-key', env: 'TERRACE_ETCD_KEY', file: 'etcd.key' },
  username: { flag: 'etcdUsername', cli: '--etcd-username', env: 'TERRACE_ETCD_USERNAME', file: 'etcd.username' },
  password: { flag: 'etcdPassword', cli: '--etcd-password', env: 'TERRACE_ETCD_PASSWORD', file: 'etcd.password' },
  cluster: { flag: 'cluster', cli: '--cluster', env: 'TERRACE_CLUSTER', file: 'cluster' },
};

const SETTINGS = Object.keys(FLAG_NAMES) as Setting[];
const FILE_ETCD_KEYS = ['endpoints', 'ca', 'cert', 'key', 'username', 'password'] as const;
const PATH_SETTINGS: ReadonlySet<Setting> = new Set(['ca', 'cert', 'key']);

function invalid(source: string, reason: string): TerraceError {
  return new TerraceError('Invalid', `${source}: ${reason}`, { field: source });
}

/** The config file's contents as raw strings per setting (endpoints joined by commas). */
interface FileValues {
  path: string;
  values: Partial<Record<Setting, string>>;
}

/** `ENOENT (no such file or directory)` from a failed read, without the path Node appends. */
function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z]+: ([^,]+)/.exec(err.message);
  return err.code && m ? `${err.code} (${m[1]})` : (err.code ?? err.message);
}

function readConfigFile(path: string, source: string): FileValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalid(source, `cannot read config file ${path}: ${fsReason(e)}`);
  }
  let doc: unknown;
  try {
    doc = (requireHere('yaml') as typeof Yaml).parse(text);
  } catch (e) {
    throw invalid(`config file ${path}`, `is not valid YAML: ${(e as Error).message.split('\n')[0]?.replace(/:$/, '')}`);
  }
  const where = `config file ${path}`;
  if (doc === null || doc === undefined) return { path, values: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(where, 'must be a mapping with keys cluster and etcd');
  const top = doc as Record<string, unknown>;
  const unknownTop = Object.keys(top).filter((k) => k !== 'cluster' && k !== 'etcd');
  if (unknownTop.length) throw invalid(where, `unknown key${unknownTop.length > 1 ? 's' : ''} ${unknownTop.join(', ')} (allowed: cluster, etcd)`);

  const values: Partial<Record<Setting, string>> = {};
  if (top.cluster !== undefined) {
    if (typeof top.cluster !== 'string') throw invalid(`${where}: cluster`, 'must be a string');
    values.cluster = top.cluster;
  }
  if (top.etcd !== undefined && top.etcd !== null) {
    if (typeof top.etcd !== 'object' || Array.isArray(top.etcd)) throw invalid(`${where}: etcd`, 'must be a mapping');
    const etcd = top.etcd as Record<string, unknown>;
    const allowed: readonly string[] = FILE_ETCD_KEYS;
    const unknownEtcd = Object.keys(etcd).filter((k) => !allowed.includes(k));
    if (unknownEtcd.length) {
      throw invalid(where, `unknown key${unknownEtcd.length > 1 ? 's' : ''} ${unknownEtcd.map((k) => `etcd.${k}`).join(', ')} (allowed: ${FILE_ETCD_KEYS.map((k) => `etcd.${k}`).join(', ')})`);
    }
    for (const k of FILE_ETCD_KEYS) {
      const v = etcd[k];
      if (v === undefined || v === null) continue;
      if (k === 'endpoints' && Array.isArray(v)) {
        if (!v.every((x): x is string => typeof x === 'string')) throw invalid(`${where}: etcd.endpoints`, 'must be a list of URLs');
        values.endpoints = v.join(',');
      } else if (typeof v === 'string' || (k === 'password' && typeof v === 'number')) {
        // Relative file paths are relative to the config file, not to the caller's cwd.
        values[k] = PATH_SETTINGS.has(k) ? resolvePath(dirname(path), String(v)) : String(v);
      } else {
        throw invalid(`${where}: etcd.${k}`, k === 'endpoints' ? 'must be a list of URLs' : 'must be a string');
      }
    }
  }
  return { path, values };
}

/** Parses one endpoint; adds etcd's client port 2379 when none is given. */
export function parseEndpoint(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(source, `${quote(raw)} is not a URL (expected e.g. http://127.0.0.1:2379)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(source, `${quote(raw)} must use http:// or https:// (got ${url.protocol}//)`);
  }
  if (!url.hostname) throw invalid(source, `${quote(raw)} has no host`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
    throw invalid(source, `${quote(raw)} must be scheme://host:port only (put credentials in the username/password settings)`);
  }
  return `${url.protocol}//${url.hostname}:${url.port || '2379'}`;
}

function splitEndpoints(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function describe(setting: Setting, origin: 'flag' | 'env' | 'file' | 'default', filePath?: string): string {
  const n = FLAG_NAMES[setting];
  switch (origin) {
    case 'flag':
      return `flag ${n.cli}`;
    case 'env':
      return `environment ${n.env}`;
    case 'file':
      return `config file ${filePath}: ${n.file}`;
    default:
      return `default ${setting}`;
  }
}

/**
 * Resolves the connection settings. `env` and `defaultConfigPath` are
 * parameters so that tests do not depend on the machine they run on.
 */
export function resolveConnectionConfig(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  defaultConfigPath: string = DEFAULT_CONFIG_PATH,
): ConnectionConfig {
  const nonEmpty = (v: string | undefined): v is string => v !== undefined && v !== '';

  // Which config file, if any.
  let file: FileValues | undefined;
  if (nonEmpty(flags.config)) file = readConfigFile(flags.config, 'flag --config');
  else if (nonEmpty(env.TERRACE_CONFIG)) file = readConfigFile(env.TERRACE_CONFIG, 'environment TERRACE_CONFIG');
  else if (existsSync(defaultConfigPath)) file = readConfigFile(defaultConfigPath, `config file ${defaultConfigPath}`);

  const raw: Partial<Record<Setting, string>> = {};
  const sources: Partial<Record<Setting, string>> = {};
  for (const s of SETTINGS) {
    const n = FLAG_NAMES[s];
    const fromFlag = flags[n.flag];
    const fromEnv = env[n.env];
    const fromFile = file?.values[s];
    if (nonEmpty(fromFlag)) [raw[s], sources[s]] = [fromFlag, describe(s, 'flag')];
    else if (nonEmpty(fromEnv)) [raw[s], sources[s]] = [fromEnv, describe(s, 'env')];
    else if (nonEmpty(fromFile)) [raw[s], sources[s]] = [fromFile, describe(s, 'file', file?.path)];
  }
  if (raw.endpoints === undefined) [raw.endpoints, sources.endpoints] = [DEFAULT_ENDPOINT, describe('endpoints', 'default')];
  if (raw.cluster === undefined) [raw.cluster, sources.cluster] = [DEFAULT_CLUSTER, describe('cluster', 'default')];

  const endpointsSource = sources.endpoints as string;
  const parts = splitEndpoints(raw.endpoints);
  if (parts.length === 0) throw invalid(endpointsSource, 'names no endpoint');
  const endpoints = parts.map((p) => parseEndpoint(p, endpointsSource));
  const secure = endpoints.filter((e) => e.startsWith('https:')).length;
  if (secure !== 0 && secure !== endpoints.length) throw invalid(endpointsSource, 'mixes http:// and https:// endpoints; use one scheme for all');

  const cluster = raw.cluster;
  const clusterProblem = clusterNameProblem(cluster);
  if (clusterProblem) throw invalid(sources.cluster as string, `cluster name ${quote(cluster)} ${clusterProblem}`);

  for (const s of ['ca', 'cert', 'key'] as const) {
    const p = raw[s];
    if (p === undefined) continue;
    let ok = false;
    try {
      ok = statSync(p).isFile();
    } catch {
      ok = false;
    }
    if (!ok) throw invalid(sources[s] as string, `file ${p} does not exist or is not a regular file`);
  }
  if ((raw.cert === undefined) !== (raw.key === undefined)) {
    const [have, missing] = raw.cert !== undefined ? (['cert', 'key'] as const) : (['key', 'cert'] as const);
    throw invalid(sources[have] as string, `a client ${have} needs a client ${missing} too (set ${FLAG_NAMES[missing].cli} or ${FLAG_NAMES[missing].env})`);
  }
  if ((raw.ca !== undefined || raw.cert !== undefined) && secure === 0) {
    const s = raw.ca !== undefined ? 'ca' : 'cert';
    throw invalid(sources[s] as string, `TLS files are set but the endpoints use http:// (${endpointsSource}); use https:// endpoints`);
  }
  if ((raw.username === undefined) !== (raw.password === undefined)) {
    const [have, missing] = raw.username !== undefined ? (['username', 'password'] as const) : (['password', 'username'] as const);
    throw invalid(sources[have] as string, `a ${have} needs a ${missing} too (set ${FLAG_NAMES[missing].cli} or ${FLAG_NAMES[missing].env})`);
  }

  const cfg: ConnectionConfig = { endpoints, cluster, sources };
  if (raw.ca !== undefined) cfg.ca = raw.ca;
  if (raw.cert !== undefined) cfg.cert = raw.cert;
  if (raw.key !== undefined) cfg.key = raw.key;
  if (raw.username !== undefined) cfg.username = raw.username;
  if (raw.password !== undefined) cfg.password = raw.password;
  if (file) cfg.configFile = file.path;
  return cfg;
}
