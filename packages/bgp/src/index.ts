export * from './speaker.js';
export * from './policy.js';
export * from './broadcast.js';
export { SupervisedDaemon, type DaemonEvents, type SupervisorTuning } from './supervisor.js';
export * from './gobgp/index.js';
export * from './bird/index.js';
export { createSpeaker, type SpeakerChoice } from './create.js';
export * from './bmp/types.js';
export { BmpReader, parseBgpUpdate } from './bmp/parse.js';
// The socket the station listens on, in gobgpd's namespace: public so that a
// benchmark's raw BMP reader takes the same path as the station.
export { listenTcp, type ListenOptions } from './bmp/listen.js';
export { AdjRibIn, type RibOptions } from './bmp/rib.js';
export { BmpStation, DEFAULT_STALE_GRACE_MS, type BmpStationOptions } from './bmp/station.js';
export * from './bfd/index.js';
