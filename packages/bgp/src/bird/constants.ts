/**
 * The BIRD backend's numbers in one place.
 *
 * Learned routes are written to the kernel by BIRD's own kernel protocol. BIRD
 * 2.0 marks every route it writes with rtm_protocol RTPROT_BIRD (12, `proto
 * bird`) and cannot be told another number; with `learn off` it reads and
 * removes only routes carrying that number. Route sync owns protocol 201
 * (`proto terrace`, dataplane/src/constants.ts) and never touches 12, so each
 * kernel route has one owner.
 */

/** rtm_protocol of the routes BIRD writes (RTPROT_BIRD). */
export const BIRD_KERNEL_PROTOCOL = 12;

/** The metric BIRD gives its kernel routes (BIRD's default, written out so it is explicit). */
export const BIRD_KERNEL_METRIC = 32;

/** The kernel table learned routes go to (main). */
export const BIRD_KERNEL_TABLE = 254;

/** BFD defaults when a peer asks for BFD without intervals (FRR's defaults: 300 ms × 3). */
export const BFD_DEFAULT_INTERVAL_MS = 300;
export const BFD_DEFAULT_MULTIPLIER = 3;

/** Default binaries (found on PATH). */
export const DEFAULT_BIRD_BINARY = 'bird';
