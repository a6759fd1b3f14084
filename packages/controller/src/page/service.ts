/**
 * The controller with its status page beside it, as one service for
 * serveUntilSignal: the page starts after the controller (it reads the same
 * etcd) and stops before it, so the last page request never meets a closed
 * client. A page that cannot bind its address fails the start, with the
 * address in the message.
 */
import type { Controller } from '../controller.js';
import { StatusPage, type StatusPageOptions } from './server.js';

export function withStatusPage(controller: Controller, opts: StatusPageOptions): { start(): Promise<void>; stop(): Promise<void> } {
  const page = new StatusPage(opts);
  let started = false;
  return {
    async start() {
      await controller.start();
      await page.start();
      started = true;
    },
    async stop() {
      if (started) await page.stop();
      await controller.stop();
    },
  };
}
