/** RxJS operators over session event streams. */
export { replayThenLive, type Sequenced } from './replay-then-live.js';
export { completionsOf } from './completions-of.js';
export {
  childProgress,
  reduceChildProgress,
  type ChildProgressRow,
  type ChildProgressSnapshot,
  type ChildProgressState,
} from './child-progress.js';
