export { BfdManager, type BfdChange, type BfdManagerOptions, type BfdPeer, type BfdStateName } from './manager.js';
export { BfdState, decodeControl, encodeControl, type ControlPacket, type DecodeResult } from './packet.js';
export { BFD_CONTROL_PORT } from './sockets.js';
