import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError } from '@terrace/api';
import { resolveConnectionConfig, type ConnectionFlags } from '../src/config.js';

let dir: string;
let ca: string;
let cert: string;
let key: string;
const NO_FILE = '/nonexistent/terrace.yaml';

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function fail(flags: ConnectionFlags, env: NodeJS.ProcessEnv = {}, def = NO_FILE): TerraceError {
  try {
    resolveConnectionConfig(flags, env, def);
  } catch (e) {
    expect(e).toBeInstanceOf(TerraceError);
    expect((e as TerraceError).code).toBe('Invalid');
    return e as TerraceError;
  }
  throw new Error('expected resolveConnectionConfig to fail');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'terrace-config-'));
  ca = write('ca.pem', 'ca');
  cert = write('cert.pem', 'cert');
  key = write('key.pem', 'key');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveConnectionConfig precedence', () => {
  it('uses the defaults when nothing is set', () => {
    const cfg = resolveConnectionConfig({}, {}, NO_FILE);
    expect(cfg.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(cfg.cluster).toBe('default');
    expect(cfg.sources.endpoints).toBe('default endpoints');
    expect(cfg.ca).toBeUndefined();
    expect(cfg.configFile).toBeUndefined();
  });

  it('reads the default config file when it exists', () => {
    const f = write('default.yaml', 'cluster: from-file\netcd:\n  endpoints: [http://10.0.0.1:2379, "http://10.0.0.2:2379"]\n');
    const cfg = resolveConnectionConfig({}, {}, f);
    expect(cfg.endpoints).toEqual(['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
    expect(cfg.cluster).toBe('from-file');
    expect(cfg.sources.endpoints).toBe(`config file ${f}: etcd.endpoints`);
    expect(cfg.configFile).toBe(f);
  });

  it('environment beats the config file, flags beat the environment, per setting', () => {
    const f = write('p.yaml', 'cluster: file-c\netcd:\n  endpoints: [http://10.0.0.1:2379]\n  username: file-user\n  password: file-pw\n');
    const env = { TERRACE_CONFIG: f, TERRACE_ETCD_ENDPOINTS: 'http://10.0.0.9:2379, http://10.0.0.8:2380', TERRACE_ETCD_USERNAME: 'env-user' };
    const fromEnv = resolveConnectionConfig({}, env, NO_FILE);
    expect(fromEnv.endpoints).toEqual(['http://10.0.0.9:2379', 'http://10.0.0.8:2380']);
    expect(fromEnv.sources.endpoints).toBe('environment TERRACE_ETCD_ENDPOINTS');
    expect(fromEnv.username).toBe('env-user');
    expect(fromEnv.password).toBe('file-pw');
    expect(fromEnv.cluster).toBe('file-c');

    const fromFlags = resolveConnectionConfig({ etcdEndpoints: 'http://127.0.0.2:1234', cluster: 'flag-c' }, env, NO_FILE);
    expect(fromFlags.endpoints).toEqual(['http://127.0.0.2:1234']);
    expect(fromFlags.sources.endpoints).toBe('flag --etcd-endpoints');
    expect(fromFlags.cluster).toBe('flag-c');
    expect(fromFlags.username).toBe('env-user');
  });

  it('--config beats TERRACE_CONFIG, which beats the default path', () => {
    const a = write('a.yaml', 'cluster: a\n');
    const b = write('b.yaml', 'cluster: b\n');
    const c = write('c.yaml', 'cluster: c\n');
    expect(resolveConnectionConfig({ config: a }, { TERRACE_CONFIG: b }, c).cluster).toBe('a');
    expect(resolveConnectionConfig({}, { TERRACE_CONFIG: b }, c).cluster).toBe('b');
    expect(resolveConnectionConfig({}, {}, c).cluster).toBe('c');
  });

  it('treats empty flags and variables as unset', () => {
    const cfg = resolveConnectionConfig({ etcdEndpoints: '' }, { TERRACE_ETCD_ENDPOINTS: '', TERRACE_CLUSTER: '' }, NO_FILE);
    expect(cfg.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(cfg.cluster).toBe('default');
  });

  it('resolves TLS paths in the config file relative to the file and keeps them with https', () => {
    const f = write('tls.yaml', 'etcd:\n  endpoints: [https://etcd.example:2379]\n  ca: ca.pem\n  cert: cert.pem\n  key: key.pem\n');
    const cfg = resolveConnectionConfig({}, {}, f);
    expect(cfg.ca).toBe(ca);
    expect(cfg.cert).toBe(cert);
    expect(cfg.key).toBe(key);
    expect(cfg.endpoints).toEqual(['https://etcd.example:2379']);
  });

  it('adds the etcd client port when an endpoint has none', () => {
    expect(resolveConnectionConfig({ etcdEndpoints: 'http://[::1]' }, {}, NO_FILE).endpoints).toEqual(['http://[::1]:2379']);
  });
});

describe('resolveConnectionConfig refuses bad values, naming setting and source', () => {
  it.each<[string, ConnectionFlags, NodeJS.ProcessEnv, RegExp]>([
    ['endpoint not a URL (flag)', { etcdEndpoints: 'localhost2379' }, {}, /^flag --etcd-endpoints: "localhost2379" is not a URL/],
    ['endpoint not a URL (env)', {}, { TERRACE_ETCD_ENDPOINTS: 'http://ok:1,nope' }, /^environment TERRACE_ETCD_ENDPOINTS: "nope" is not a URL/],
    ['endpoint with another scheme', { etcdEndpoints: 'unix:///run/etcd.sock' }, {}, /--etcd-endpoints: .*must use http:\/\/ or https:\/\//],
    ['endpoint with a path', { etcdEndpoints: 'http://h:2379/v3' }, {}, /--etcd-endpoints: .*scheme:\/\/host:port only/],
    ['mixed schemes', { etcdEndpoints: 'http://a:1,https://b:2' }, {}, /--etcd-endpoints: mixes http:\/\/ and https:\/\//],
    ['only commas', { etcdEndpoints: ' , ' }, {}, /--etcd-endpoints: names no endpoint/],
    ['bad cluster name', { cluster: 'Bad_Name' }, {}, /^flag --cluster: cluster name "Bad_Name" must be a DNS-1123 subdomain/],
    ['bad cluster name (env)', {}, { TERRACE_CLUSTER: '-x' }, /^environment TERRACE_CLUSTER: /],
    // The resource-name rule, not a looser copy of it.
    ['cluster name with an empty label', { cluster: 'a..b' }, {}, /^flag --cluster: cluster name "a..b" must be a DNS-1123 subdomain/],
    ['missing CA file', { etcdEndpoints: 'https://h:2379', etcdCa: '/nonexistent/ca.pem' }, {}, /^flag --etcd-ca: file \/nonexistent\/ca.pem does not exist/],
    ['missing cert file (env)', { etcdEndpoints: 'https://h:2379' }, { TERRACE_ETCD_CERT: '/nonexistent/c.pem' }, /^environment TERRACE_ETCD_CERT: file/],
    ['username without password', { etcdUsername: 'root' }, {}, /^flag --etcd-username: a username needs a password too/],
  ])('%s', (_name, flags, env, re) => {
    expect(fail(flags, env).message).toMatch(re);
  });

  it('cert without key', () => {
    expect(fail({ etcdEndpoints: 'https://h:2379', etcdCert: cert }).message).toMatch(/^flag --etcd-cert: a client cert needs a client key too/);
  });

  it('key without cert', () => {
    expect(fail({ etcdEndpoints: 'https://h:2379' }, { TERRACE_ETCD_KEY: key }).message).toMatch(/^environment TERRACE_ETCD_KEY: a client key needs a client cert too/);
  });

  it('TLS files with http endpoints', () => {
    expect(fail({ etcdCa: ca }).message).toMatch(/^flag --etcd-ca: TLS files are set but the endpoints use http:\/\/ \(default endpoints\)/);
  });

  it('unknown keys in the config file, named', () => {
    const f = write('unknown.yaml', 'cluster: a\netcd:\n  endpoints: [http://a:1]\n  cacert: x\n  timeout: 3\n');
    expect(fail({ config: f }).message).toBe(
      `config file ${f}: unknown keys etcd.cacert, etcd.timeout (allowed: etcd.endpoints, etcd.ca, etcd.cert, etcd.key, etcd.username, etcd.password)`,
    );
    const g = write('unknown-top.yaml', 'clusterName: a\n');
    expect(fail({ config: g }).message).toBe(`config file ${g}: unknown key clusterName (allowed: cluster, etcd)`);
  });

  it('a config file that is not YAML, not a mapping, or has wrong types', () => {
    expect(fail({ config: write('bad.yaml', 'etcd: [\n') }).message).toMatch(/is not valid YAML/);
    expect(fail({ config: write('list.yaml', '- a\n') }).message).toMatch(/must be a mapping/);
    expect(fail({ config: write('types.yaml', 'etcd:\n  endpoints: [1, 2]\n') }).message).toMatch(/etcd.endpoints: must be a list of URLs/);
  });

  it('a bad endpoint in the config file names the file and key', () => {
    const f = write('badep.yaml', 'etcd:\n  endpoints: ["not a url"]\n');
    expect(fail({}, { TERRACE_CONFIG: f }).message).toBe(`config file ${f}: etcd.endpoints: "not a url" is not a URL (expected e.g. http://127.0.0.1:2379)`);
  });

  it('an explicit config file that does not exist', () => {
    expect(fail({ config: '/nonexistent/x.yaml' }).message).toMatch(/^flag --config: cannot read config file \/nonexistent\/x.yaml: ENOENT/);
    expect(fail({}, { TERRACE_CONFIG: '/nonexistent/y.yaml' }).message).toMatch(/^environment TERRACE_CONFIG: cannot read/);
  });
});
