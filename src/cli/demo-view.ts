import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { ChildProgress, ChildRow } from './child-progress.js';

/**
 * How `sprout demo` shows a run: live rows on a terminal, plain lines in a pipe, or the wire
 * envelopes with `--json`. Every view reads the same {@link ChildProgress}.
 */
export interface DemoView {
  /** An informational line (banner, inspector address); never mixed into `--json` output. */
  note(text: string): void;
  /** Every envelope of the parent's stream, after `progress` applied it (`row`: the row it changed). */
  onEnvelope(envelope: SessionEventEnvelope, row: ChildRow | undefined): void;
  /** Called once every child was spawned (live views start drawing their rows here). */
  start(progress: ChildProgress): void;
  /** Stops live drawing; resolves once the view is done writing. */
  finish(): Promise<void>;
}

/** A writable text stream (stdout / stderr, or a fake in tests). */
export interface TextOut {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}
