import type { FeedJournal } from './feed-journal.js';
import { FEED_CHANNEL, type ChannelFrame } from './v2-frames.js';

/**
 * Opens the account feed for one socket: the journal's entries after `since`, then live ones,
 * each as `{ ch: 'feed', seq, event: ChangeEvent }` (no gap, no duplicate: the replay and the
 * live subscription start in the same tick). A cursor the journal no longer covers (too old, or
 * past the latest: the server restarted) gets `{ ch: 'feed', seq: 0, control: { type:
 * 'feed_reset', from_seq: since } }` instead of the replay, then live entries; without a cursor,
 * live entries only. Returns the function that closes it.
 *
 * @example
 * const close = openFeedChannel(feed, 12, (frame) => ws.send(JSON.stringify(frame)));
 */
export function openFeedChannel(feed: FeedJournal, since: number | undefined, send: (frame: ChannelFrame) => void): () => void {
  if (since !== undefined) {
    const read = feed.read(since);
    if (read.reset) send({ ch: FEED_CHANNEL, seq: 0, control: { type: 'feed_reset', from_seq: since } });
    else for (const entry of read.entries) send({ ch: FEED_CHANNEL, seq: entry.seq, event: entry });
  }
  const subscription = feed.changes$.subscribe((entry) => send({ ch: FEED_CHANNEL, seq: entry.seq, event: entry }));
  return () => subscription.unsubscribe();
}
