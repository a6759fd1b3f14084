export { BirdSpeaker, type BirdSpeakerOptions } from './speaker.js';
export { BirdDaemon, type BirdDaemonOptions } from './daemon.js';
export { BirdControl, BirdControlError, type BirdReply, type BirdReplyLine } from './control.js';
export { renderBirdConfig, peerProtocolName, type BirdDesired, type RenderedBird } from './render.js';
export { BIRD_KERNEL_METRIC, BIRD_KERNEL_PROTOCOL, BIRD_KERNEL_TABLE } from './constants.js';
