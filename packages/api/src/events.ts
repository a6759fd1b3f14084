/**
 * Recent cluster events, as the acting controller records them at
 * keys.controllerEvents(): a bounded list, newest last, written in one fenced
 * transaction per append. The record is not lease-bound, so the status page
 * of a standby (or of no controller at all) still shows the last events.
 */

export type ControllerEventKind = 'node lost' | 'node back' | 'addresses freed' | 'blocks released' | 'overlap found' | 'pool held';

export const CONTROLLER_EVENT_KINDS: readonly ControllerEventKind[] = ['node lost', 'node back', 'addresses freed', 'blocks released', 'overlap found', 'pool held'];

export interface ControllerEvent {
  /** RFC 3339. */
  time: string;
  kind: ControllerEventKind;
  /** The node, pool or remote cluster the event is about. */
  subject: string;
  /** One line for humans, e.g. `node-3: 12 addresses freed`. */
  message: string;
}

export interface ControllerEvents {
  events: ControllerEvent[];
}

/** How many events the record keeps. */
export const CONTROLLER_EVENTS_MAX = 50;
