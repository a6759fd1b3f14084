/**
 * bin/terrace-agent: parse flags, connect to etcd (failing fast with a clear
 * message), run the agent until SIGTERM/SIGINT, then stop cleanly (revoking
 * the lease so the node's liveness key and status go at once).
 */
import { exitCodeFor } from '@terrace/api';
import { EtcdResourceStore, Keys, connect, resolveConnectionConfig } from '@terrace/datastore';
import { CommanderError } from 'commander';
import { parseAgentArgs } from './config.js';
import { createLogger, formatListen, reportBadInvocation, runMain, serveUntilSignal } from '@terrace/log';
import { NodeAgent } from './node-agent.js';
import { prepareSocketDir } from './cni/socket-dir.js';
import { dirname } from 'node:path';
import { type AgentEndpoint, STATUS_LOOP, serveAgentMetrics } from './serve-metrics.js';

async function main(): Promise<number> {
  let config;
  let conn;
  try {
    config = parseAgentArgs(process.argv.slice(2), {
      isTTY: process.stderr.isTTY,
      // Commander's own errors (unknown flag, bad choice) in the same form as ours.
      outputError: (text) => reportBadInvocation('terrace-agent', text),
    });
    // The config file (--config, TERRACE_CONFIG, /etc/terrace/terrace.yaml) is
    // read now: a bad one is reported like a bad flag, before anything starts.
    conn = resolveConnectionConfig(config.connection, process.env);
    // A socket directory others can write is refused before anything starts (cni/socket-dir.ts).
    if (config.cniSocket !== undefined) await prepareSocketDir(dirname(config.cniSocket));
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    reportBadInvocation('terrace-agent', (e as Error).message);
    return exitCodeFor(e);
  }
  const log = createLogger(config.logFormat, config.logLevel, { node: config.nodeName });
  const keys = new Keys(conn.cluster);
  // Before etcd: a metrics port in use stops the start with one line.
  let endpoint: AgentEndpoint | undefined;
  if (config.metricsListen) {
    try {
      endpoint = await serveAgentMetrics(config.metricsListen, config);
    } catch (e) {
      reportBadInvocation('terrace-agent', (e as Error).message);
      return exitCodeFor(e);
    }
  }
  let etcd;
  try {
    etcd = await connect(conn, endpoint ? { observe: endpoint.observe } : {});
  } catch (e) {
    log.error((e as Error).message);
    await endpoint?.server.close();
    return exitCodeFor(e);
  }
  endpoint?.etcd.probeWith(etcd, keys.prefix);
  const agent = new NodeAgent({
    config,
    etcd,
    keys,
    store: new EtcdResourceStore(etcd, keys),
    log,
    ...(endpoint ? { metrics: endpoint.metrics, onStatusTurn: () => endpoint.beat.beat(STATUS_LOOP) } : {}),
  });
  endpoint?.attach(agent);
  return serveUntilSignal(agent, {
    log,
    running: () =>
      log.info('agent running', { cluster: conn.cluster, endpoints: conn.endpoints, ...(endpoint ? { metrics: formatListen(endpoint.server.address) } : {}) }),
    cleanup: () => {
      void endpoint?.server.close();
      etcd.close();
    },
    exitCodeFor,
  });
}

runMain('terrace-agent', main);
