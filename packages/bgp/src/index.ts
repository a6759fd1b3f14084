export * from './speaker.js';
export * from './broadcast.js';
export * from './gobgp/index.js';
export * from './bmp/types.js';
export { BmpReader, parseBgpUpdate } from './bmp/parse.js';
export { AdjRibIn, type RibOptions } from './bmp/rib.js';
export { BmpStation, type BmpStationOptions } from './bmp/station.js';
