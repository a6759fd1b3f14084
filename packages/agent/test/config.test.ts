import { describe, expect, it } from '@jest/globals';
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';
import { DEFAULT_RESYNC_INTERVAL_MS } from '@terrace/dataplane';
import { parseAgentArgs, parseLabels, resolveNodeAddress, type InterfaceAddress } from '../src/config.js';

const local = (): InterfaceAddress[] => [
  { family: 4, address: '198.18.0.11', prefix: 24, iface: 'eth0' },
  { family: 6, address: 'fd00::11', prefix: 64, iface: 'eth0' },
  { family: 4, address: '10.0.0.5', prefix: 8, iface: 'eth1' },
];
const parse = (...argv: string[]) => parseAgentArgs(argv, { local });

describe('agent flags', () => {
  it('parses a full command line', () => {
    const c = parse(
      '--node-name', 'node1', '--node-ip', '198.18.0.11', '--as', '65001', '--labels', 'rack=r1,example.com/role=edge',
      '--etcd-endpoints', 'http://127.0.0.1:2379', '--cluster', 'lab', '--log-format', 'text', '--resync-interval', '1m', '--gobgp-api-port', '50052',
    );
    expect(c).toMatchObject({
      nodeName: 'node1',
      addresses: { 4: '198.18.0.11/24' },
      asNumber: 65001,
      labels: { rack: 'r1', 'example.com/role': 'edge' },
      gobgp: { kind: 'supervised', apiPort: 50052, binary: 'gobgpd' },
      connection: { etcdEndpoints: 'http://127.0.0.1:2379', cluster: 'lab' },
      logFormat: 'text',
      resyncIntervalMs: 60_000,
      leaseTtlSeconds: 10,
    });
  });

  it('takes its defaults from the modules that own them', () => {
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11')).toMatchObject({
      gobgp: { kind: 'supervised', apiPort: DEFAULT_GOBGP_API_PORT },
      resyncIntervalMs: DEFAULT_RESYNC_INTERVAL_MS,
    });
  });

  it('uses a sidecar when --gobgp-address is given', () => {
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11/24', '--gobgp-address', '127.0.0.1:50051').gobgp).toEqual({ kind: 'sidecar', address: '127.0.0.1:50051' });
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11/24', '--gobgp-address', 'localhost')).toThrow('flag --gobgp-address "localhost" must be host:port');
  });

  it('serves CNI on the default socket unless told otherwise', () => {
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11').cniSocket).toBe('/run/terrace/cni.sock');
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--cni-socket', '/tmp/x.sock', '--pod-mtu', '1450')).toMatchObject({ cniSocket: '/tmp/x.sock', podMtu: 1450 });
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--no-cni').cniSocket).toBeUndefined();
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--pod-mtu', '9')).toThrow('flag --pod-mtu "9" is not an MTU');
  });

  it('takes both families from an interface', () => {
    expect(parse('--node-name', 'n', '--node-ip-from-interface', 'eth0').addresses).toEqual({ 4: '198.18.0.11/24', 6: 'fd00::11/64' });
    expect(() => parse('--node-name', 'n', '--node-ip-from-interface', 'eth9')).toThrow(/interface eth9 has no global address/);
  });

  it('accepts one address per family', () => {
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--node-ip', 'fd00::11').addresses).toEqual({ 4: '198.18.0.11/24', 6: 'fd00::11/64' });
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--node-ip', '198.18.0.12')).toThrow('gives two IPv4 addresses');
  });

  it('defaults to JSON logs off a terminal and text on one', () => {
    expect(parse('--node-name', 'n', '--node-ip', '198.18.0.11').logFormat).toBe('json');
    expect(parseAgentArgs(['--node-name', 'n', '--node-ip', '198.18.0.11'], { local, isTTY: true }).logFormat).toBe('text');
  });

  it('refuses bad values naming the flag', () => {
    expect(() => parse('--node-name', 'n')).toThrow(/needs a BGP address/);
    expect(() => parse('--node-name', 'Node_1', '--node-ip', '198.18.0.11')).toThrow(/flag --node-name "Node_1"/);
    // The Node resource's own rule: names the registration would refuse after connecting.
    expect(() => parse('--node-name', 'a..b', '--node-ip', '198.18.0.11')).toThrow(/flag --node-name "a..b" must be a DNS-1123 subdomain/);
    expect(() => parse('--node-name', 'a.-b', '--node-ip', '198.18.0.11')).toThrow(/flag --node-name "a.-b" must be a DNS-1123 subdomain/);
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.300')).toThrow('flag --node-ip "198.18.0.300" is not an IP address');
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--as', '0')).toThrow(/flag --as "0" is not an AS number/);
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--resync-interval', '10')).toThrow(/flag --resync-interval "10" is not a duration/);
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--gobgp-api-port', '70000')).toThrow(/flag --gobgp-api-port "70000" is not a TCP port/);
    expect(() => parse('--node-name', 'n', '--node-ip', '198.18.0.11', '--node-ip-from-interface', 'eth0')).toThrow(/cannot be combined/);
  });
});

describe('labels and addresses', () => {
  it('parses labels and refuses malformed ones', () => {
    expect(parseLabels('a=1, b=two ,c=')).toEqual({ a: '1', b: 'two', c: '' });
    expect(() => parseLabels('a')).toThrow('flag --labels "a" must be key=value');
    expect(() => parseLabels('-a=1')).toThrow(/label key "-a"/);
    expect(() => parseLabels('a=b c')).toThrow(/label value "b c"/);
    expect(() => parseLabels(`${'k'.repeat(64)}=v`)).toThrow(/label key "k+" must have a name part of 1–63 characters/);
    expect(() => parseLabels('a..b/k=v')).toThrow(/label key "a..b\/k" has prefix "a..b" that must be a DNS-1123 subdomain/);
  });

  it('keeps an explicit length, else takes the interface one, else a host length', () => {
    expect(resolveNodeAddress('198.18.0.11/16', local())).toEqual({ family: 4, cidr: '198.18.0.11/16' });
    expect(resolveNodeAddress('10.0.0.5', local())).toEqual({ family: 4, cidr: '10.0.0.5/8' });
    expect(resolveNodeAddress('203.0.113.1', local())).toEqual({ family: 4, cidr: '203.0.113.1/32' });
    expect(resolveNodeAddress('FD00:0::99', local())).toEqual({ family: 6, cidr: 'fd00::99/128' });
  });
});
