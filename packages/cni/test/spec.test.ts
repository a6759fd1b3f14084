import { describe, expect, it } from '@jest/globals';
import {
  CniCode,
  CniError,
  buildAddResult,
  cniArg,
  compareVersions,
  decodeConfig,
  errorJson,
  parseCniArgs,
  parseConfig,
  parseEnv,
  prevResultAddresses,
  replyVersion,
} from '../src/index.js';

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e.code;
    throw e;
  }
  return undefined;
}

const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const conf = { cniVersion: '1.1.0', name: 'k8s-pod-network', type: 'terrace' };

describe('CNI environment', () => {
  it('parses an ADD environment with CNI_ARGS', () => {
    const env = parseEnv({ ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0' });
    expect(env).toEqual({
      command: 'ADD',
      containerId: 'abc123',
      netns: '/var/run/netns/x',
      ifname: 'eth0',
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', 'default'],
        ['K8S_POD_NAME', 'web-0'],
      ],
      path: '/opt/cni/bin',
    });
    expect(cniArg(env.args, 'K8S_POD_NAME')).toBe('web-0');
  });

  it('answers code 4 naming the variable', () => {
    for (const [env, msg] of [
      [{}, /CNI_COMMAND is not set/],
      [{ CNI_COMMAND: 'FROB' }, /CNI_COMMAND "FROB"/],
      [{ ...addEnv, CNI_CONTAINERID: '' }, /CNI_CONTAINERID is not set/],
      [{ ...addEnv, CNI_CONTAINERID: '-x' }, /CNI_CONTAINERID/],
      [{ ...addEnv, CNI_IFNAME: 'averyveryverylongname' }, /CNI_IFNAME .* longer than 15/],
      [{ ...addEnv, CNI_IFNAME: 'a/b' }, /CNI_IFNAME/],
      [{ ...addEnv, CNI_NETNS: undefined }, /CNI_NETNS is not set/],
      [{ ...addEnv, CNI_NETNS: 'relative' }, /CNI_NETNS "relative" is not an absolute path/],
      [{ ...addEnv, CNI_ARGS: 'novalue' }, /CNI_ARGS/],
    ] as const) {
      expect(() => parseEnv(env)).toThrow(msg);
      expect(codeOf(() => parseEnv(env))).toBe(CniCode.InvalidEnvironment);
    }
  });

  it('lets DEL go without a namespace, and VERSION, GC and STATUS without container variables', () => {
    expect(parseEnv({ ...addEnv, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns).toBe('');
    for (const c of ['VERSION', 'GC', 'STATUS']) expect(parseEnv({ CNI_COMMAND: c }).command).toBe(c);
  });

  it('splits CNI_ARGS and keeps "=" inside values', () => {
    expect(parseCniArgs('')).toEqual([]);
    expect(parseCniArgs('A=b=c;;B=')).toEqual([
      ['A', 'b=c'],
      ['B', ''],
    ]);
  });
});

describe('network config', () => {
  const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

  it('applies defaults', () => {
    const c = parseConfig(conf, 'ADD');
    expect(c).toEqual({
      cniVersion: '1.1.0',
      name: 'k8s-pod-network',
      agentSocket: '/run/terrace/cni.sock',
      stateDir: '/var/lib/terrace/cni',
      mtu: undefined,
      timeoutSeconds: 30,
      ipam: { assignIpv4: true, assignIpv6: false, ipv4Pools: [], ipv6Pools: [] },
      prevResult: undefined,
      validAttachments: [],
      runtimeIps: [],
      runtimeMac: undefined,
    });
  });

  it('reads the addresses and MAC a runtime asks for through capabilities', () => {
    const c = parseConfig({ ...conf, runtimeConfig: { ips: ['198.18.64.9/32'], mac: '0a:00:00:00:00:01', portMappings: [] } }, 'ADD');
    expect([c.runtimeIps, c.runtimeMac]).toEqual([['198.18.64.9/32'], '0a:00:00:00:00:01']);
    expect(() => parseConfig({ ...conf, runtimeConfig: { ips: '198.18.64.9' } }, 'ADD')).toThrow('runtimeConfig.ips must be a list');
  });

  it('accepts only plain paths for the members the plugin reads without a JSON parser', () => {
    for (const bad of ['/tmp/a"b.sock', '/tmp/a\\b', 'relative.sock', '/tmp/a b']) {
      expect(() => parseConfig({ ...conf, agentSocket: bad }, 'ADD')).toThrow(/agentSocket must be an absolute path/);
      expect(() => parseConfig({ ...conf, stateDir: bad }, 'ADD')).toThrow(/stateDir must be an absolute path/);
    }
    expect(() => parseConfig({ ...conf, timeoutSeconds: 1.5 }, 'ADD')).toThrow(/timeoutSeconds must be a whole number/);
  });

  it('reads terrace options and the GC attachment list', () => {
    const c = parseConfig(
      {
        ...conf,
        agentSocket: '/tmp/x.sock',
        mtu: 1400,
        ipam: { assignIpv6: true, ipv6Pools: ['v6'] },
        'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
        runtimeConfig: {},
      },
      'GC',
    );
    expect(c.agentSocket).toBe('/tmp/x.sock');
    expect(c.mtu).toBe(1400);
    expect(c.ipam).toEqual({ assignIpv4: true, assignIpv6: true, ipv4Pools: [], ipv6Pools: ['v6'] });
    expect(c.validAttachments).toEqual([{ containerId: 'a', ifname: 'eth0' }]);
  });

  it('distinguishes undecodable (6), invalid (7), unsupported field (2) and version (1)', () => {
    expect(codeOf(() => decodeConfig(Buffer.from('{garbled')))).toBe(CniCode.DecodeFailure);
    expect(codeOf(() => decodeConfig(Buffer.from('[1,2]')))).toBe(CniCode.DecodeFailure);
    expect(codeOf(() => decodeConfig(enc(conf)))).toBeUndefined();
    expect(codeOf(() => parseConfig({ ...conf, type: 'bridge' }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, name: undefined }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, mtu: 20 }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, agentSocket: 'rel.sock' }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, ipam: { assignIpv4: false } }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, ipam: { type: 'host-local' } }, 'ADD'))).toBe(CniCode.InvalidConfig);
    expect(codeOf(() => parseConfig({ ...conf, mtU: 1400 }, 'ADD'))).toBe(CniCode.UnsupportedField);
    expect(() => parseConfig({ ...conf, mtU: 1400 }, 'ADD')).toThrow(/mtU is not supported/);
    expect(codeOf(() => parseConfig({ ...conf, ipam: { subnet: 'x' } }, 'ADD'))).toBe(CniCode.UnsupportedField);
    expect(codeOf(() => parseConfig({ ...conf, cniVersion: '2.0.0' }, 'ADD'))).toBe(CniCode.IncompatibleVersion);
    expect(codeOf(() => parseConfig({ ...conf, cniVersion: '1.0.0' }, 'GC'))).toBe(CniCode.IncompatibleVersion);
    expect(codeOf(() => parseConfig({ ...conf, cniVersion: '0.3.1' }, 'CHECK'))).toBe(CniCode.IncompatibleVersion);
    expect(codeOf(() => parseConfig({ ...conf, 'cni.dev/valid-attachments': [{ containerID: 'a' }] }, 'GC'))).toBe(CniCode.InvalidConfig);
  });

  it('answers in the version the config names when it can', () => {
    expect(replyVersion(enc({ cniVersion: '0.4.0' }))).toBe('0.4.0');
    expect(replyVersion(enc({ cniVersion: '9.9.9' }))).toBe('1.1.0');
    expect(replyVersion(Buffer.from('nope'))).toBe('1.1.0');
    expect(compareVersions('0.10.0', '0.4.0')).toBeGreaterThan(0);
  });
});

describe('results and errors', () => {
  const input = {
    host: { name: 'tr0123456789a', mac: 'ee:00:00:00:00:01', mtu: 1450 },
    pod: { name: 'eth0', mac: '0a:00:00:00:00:02', sandbox: '/var/run/netns/x', mtu: 1450 },
    ips: [
      { address: '198.18.0.5/32', family: 4 as const, gateway: '169.254.1.1' },
      { address: '2001:db8::5/128', family: 6 as const, gateway: 'fe80::1' },
    ],
  };

  it('builds a 1.1.0 result with interfaces, ips, routes and dns', () => {
    expect(buildAddResult({ cniVersion: '1.1.0', ...input })).toEqual({
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'tr0123456789a', mac: 'ee:00:00:00:00:01', mtu: 1450 },
        { name: 'eth0', mac: '0a:00:00:00:00:02', sandbox: '/var/run/netns/x', mtu: 1450 },
      ],
      ips: [
        { address: '198.18.0.5/32', gateway: '169.254.1.1', interface: 1 },
        { address: '2001:db8::5/128', gateway: 'fe80::1', interface: 1 },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: '169.254.1.1' },
        { dst: '::/0', gw: 'fe80::1' },
      ],
      dns: {},
    });
  });

  it('adds ips[].version and drops interface mtu for older versions', () => {
    const r = buildAddResult({ cniVersion: '0.4.0', ...input });
    expect(r.ips.map((i) => i.version)).toEqual(['4', '6']);
    expect(r.interfaces[0]).toEqual({ name: 'tr0123456789a', mac: 'ee:00:00:00:00:01' });
    expect(prevResultAddresses(r)).toEqual(['198.18.0.5/32', '2001:db8::5/128']);
    expect(prevResultAddresses({})).toBeUndefined();
  });

  it('prints the spec error object', () => {
    expect(JSON.parse(errorJson('1.0.0', new CniError(11, 'agent down', 'is it running?')))).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'agent down',
      details: 'is it running?',
    });
    expect(JSON.parse(errorJson('1.1.0', new CniError(7, 'bad')))).toEqual({ cniVersion: '1.1.0', code: 7, msg: 'bad' });
  });
});
