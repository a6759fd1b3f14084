/**
 * bin/terrace-controller: parse flags, connect to etcd (failing fast with a
 * clear message), campaign and reconcile until SIGTERM/SIGINT, then resign
 * so that a standby takes over at once.
 */
import { exitCodeFor } from '@terrace/api';
import { EtcdResourceStore, Keys, connect, resolveConnectionConfig } from '@terrace/datastore';
import { CommanderError } from 'commander';
import { type ControllerConfig, parseControllerArgs } from './config.js';
import { Controller } from './controller.js';
import { withStatusPage } from './page/service.js';
import { formatDuration } from '@terrace/api';
import { createLogger, formatListen, reportBadInvocation, runMain, serveUntilSignal } from '@terrace/log';
import { ControllerMetrics } from './metrics.js';
import { type ControllerEndpoint, serveControllerMetrics } from './serve-metrics.js';

async function main(): Promise<number> {
  let config: ControllerConfig;
  let conn;
  try {
    config = parseControllerArgs(process.argv.slice(2), {
      isTTY: process.stderr.isTTY,
      outputError: (text) => reportBadInvocation('terrace-controller', text),
    });
    // A bad config file is reported like a bad flag, before anything starts.
    conn = resolveConnectionConfig(config.connection, process.env);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    reportBadInvocation('terrace-controller', (e as Error).message);
    return exitCodeFor(e);
  }
  const log = createLogger(config.logFormat, config.logLevel, { controller: config.identity });
  const keys = new Keys(conn.cluster);
  // Before etcd: a metrics port in use stops the start with one line.
  let endpoint: ControllerEndpoint | undefined;
  if (config.metricsListen) {
    try {
      endpoint = await serveControllerMetrics(config.metricsListen);
    } catch (e) {
      reportBadInvocation('terrace-controller', (e as Error).message);
      return exitCodeFor(e);
    }
  }
  let etcd;
  try {
    etcd = await connect(conn, endpoint ? { observe: endpoint.observe } : {});
    log.info('connected', { cluster: conn.cluster, endpoints: conn.endpoints });
  } catch (e) {
    log.error((e as Error).message);
    await endpoint?.server.close();
    return exitCodeFor(e);
  }
  endpoint?.etcd.probeWith(etcd, keys.prefix);
  const controller = new Controller({
    etcd,
    keys,
    store: new EtcdResourceStore(etcd, keys),
    log,
    identity: config.identity,
    nodeGraceMs: config.nodeGraceMs,
    intervalMs: config.intervalMs,
    leaseTtlSeconds: config.leaseTtlSeconds,
    defaultPools: config.defaultPools,
    remote: { secretsDir: config.secretsDir },
  });
  if (endpoint) {
    const metrics = new ControllerMetrics({ controller, etcd, keys, store: new EtcdResourceStore(etcd, keys), log, identity: config.identity });
    endpoint.attach(controller, metrics, config.intervalMs);
  }
  const service = config.statusListen
    ? withStatusPage(controller, { etcd, keys, log, listen: config.statusListen, servedBy: config.identity, leading: () => controller.isLeader() })
    : controller;
  return serveUntilSignal(service, {
    log,
    running: () => {
      endpoint?.started();
      log.info('controller running', {
        nodeGrace: formatDuration(config.nodeGraceMs),
        interval: formatDuration(config.intervalMs),
        leaseTtlSeconds: config.leaseTtlSeconds,
        defaultPools: config.defaultPools.map((p) => p.spec.cidr),
        ...(endpoint ? { metrics: formatListen(endpoint.server.address) } : {}),
      });
    },
    cleanup: () => {
      void endpoint?.server.close();
      etcd.close();
    },
    exitCodeFor,
  });
}

runMain('terrace-controller', main);
