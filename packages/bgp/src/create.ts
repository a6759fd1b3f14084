/**
 * The one place that turns a backend name into a speaker: everything
 * outside this package depends on the BgpSpeaker interface alone.
 */
import { BirdSpeaker, type BirdSpeakerOptions } from './bird/speaker.js';
import { GobgpSpeaker, type GobgpSpeakerOptions } from './gobgp/speaker.js';
import type { BgpSpeaker } from './speaker.js';

export type SpeakerChoice = { backend: 'gobgp'; gobgp: GobgpSpeakerOptions } | { backend: 'bird'; bird: BirdSpeakerOptions };

export function createSpeaker(choice: SpeakerChoice): BgpSpeaker {
  return choice.backend === 'gobgp' ? new GobgpSpeaker(choice.gobgp) : new BirdSpeaker(choice.bird);
}
