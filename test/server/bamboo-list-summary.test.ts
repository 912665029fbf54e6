// The Bamboo list builds its summaries from session summaries (no messages); they must equal what
// toBambooSummary gives for the whole session, field for field, so the two cannot drift.
import { describe, expect, it } from 'vitest';
import { summaryOf } from '../../src/adapters/session-summaries.js';
import type { Session } from '../../src/api/wire-types.js';
import { toBambooListSummary, toBambooSummary, type BambooLiveState } from '../../src/server/bamboo-session.js';
import { makeSession } from '../../src/testing/index.js';

const cases: [string, Session, BambooLiveState][] = [
  ['a fresh root', makeSession('r1'), {}],
  ['a root with no messages', makeSession('r0', { messages: [] }), {}],
  [
    'a pinned, renamed root whose run is live, with children',
    makeSession('r2', { metadata: { pinned: 'true', title_version: '3', last_run_status: 'running' } }),
    { runStatus: 'running', runningChildCount: 1, subagentCount: 2 },
  ],
  [
    'a child whose run failed',
    makeSession('c1', { parent_session_id: 'r1', metadata: { last_run_status: 'error', last_run_error: 'boom', last_run_id: 'run-1' } }),
    {},
  ],
  ['a pending turn left by a truncate', makeSession('r3', { metadata: { bamboo_pending_turn: 'r3-m2' } }), {}],
  [
    'a message with attachments, newer than updated_at',
    (() => {
      const session = makeSession('r4');
      session.messages.push({ id: 'm9', role: 'user', content: 'file', created_at: '2026-02-01T00:00:00.000Z', attachments: [{ a: 1 }] });
      return session;
    })(),
    { runStatus: 'queued' },
  ],
  ['a skipped run', makeSession('c2', { parent_session_id: 'r1', metadata: { last_run_status: 'skipped' } }), {}],
];

describe('toBambooListSummary', () => {
  for (const [name, session, live] of cases) {
    it(`equals toBambooSummary for ${name}`, () => {
      expect(toBambooListSummary(summaryOf(session), live)).toEqual(toBambooSummary(session, live));
    });
  }
});
