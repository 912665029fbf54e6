import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { InvalidSessionDataError } from '../../src/errors.js';
import { SproutValidationError, StoreUnavailableError } from '../../src/errors.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { MAX_PENDING, SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import type { SqliteEventLogOptions } from '../../src/adapters/sqlite/sqlite-event-log.js';

const token = (content: string): AgentEvent => ({ type: 'token', content });
const seqs = (log: SqliteEventLog, sessionId: string, afterSeq: number) => log.read(sessionId, afterSeq).envelopes.map((e) => e.seq);
/** Lets the log's group commit (once per event-loop turn, on setImmediate) run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SqliteEventLog', () => {
  let dir: string;
  let path: string;
  let stores: SqliteSessionStore[];
  const openLog = (options: SqliteEventLogOptions = {}) => {
    const store = new SqliteSessionStore({ path });
    stores.push(store);
    return { store, log: new SqliteEventLog(store, options) };
  };
  const rowCount = (store: SqliteSessionStore, sessionId: string) =>
    store.database.prepare<[string], { n: number }>('SELECT count(*) AS n FROM events WHERE session_id = ?').get(sessionId)!.n;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sprout-event-log-'));
    path = join(dir, 'sprout.db');
    stores = [];
  });
  afterEach(() => {
    for (const store of stores) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('seq', () => {
    it('starts at 1 and grows by one per session, independently per session', () => {
      const { log } = openLog();
      expect(log.append('a', token('1'))).toEqual({ seq: 1, sessionId: 'a', event: token('1') });
      expect(log.append('a', token('2')).seq).toBe(2);
      expect(log.append('b', token('x')).seq).toBe(1);
      expect(log.read('a', 0).lastSeq).toBe(2);
      expect(log.read('b', 0).lastSeq).toBe(1);
    });

    it('continues across close and reopen, even after every row was pruned', async () => {
      const first = openLog({ retention: 2 });
      for (let i = 0; i < 25; i++) first.log.append('a', token(String(i)));
      first.log.append('zero', token('x'));
      await nextTurn();
      first.store.close();
      const second = openLog({ retentionFor: (id) => (id === 'a' ? 2 : 0) });
      expect(second.log.append('a', token('next')).seq).toBe(26);
      expect(second.log.append('zero', token('next')).seq).toBe(2);
      expect(second.log.read('zero', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 2 });
    });
  });

  describe('read', () => {
    it('returns the retained envelopes with seq > afterSeq, including ones not flushed yet', () => {
      const { store, log } = openLog();
      for (let i = 1; i <= 5; i++) log.append('a', token(String(i)));
      expect(rowCount(store, 'a')).toBe(0); // still queued for the group commit at the end of this turn
      expect(seqs(log, 'a', 0)).toEqual([1, 2, 3, 4, 5]);
      expect(seqs(log, 'a', 3)).toEqual([4, 5]);
      expect(seqs(log, 'a', 5)).toEqual([]);
      expect(seqs(log, 'a', -1)).toEqual([1, 2, 3, 4, 5]);
      expect(log.read('a', 3)).toMatchObject({ firstRetainedSeq: 1, lastSeq: 5 });
      expect(log.read('a', 3).envelopes.map((e) => e.event)).toEqual([token('4'), token('5')]);
      expect(log.read('nobody', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
    });

    it('writes the queued appends once per event-loop turn, in one batch', async () => {
      const { store, log } = openLog();
      log.append('a', token('1'));
      log.append('b', token('1'));
      await nextTurn();
      expect(rowCount(store, 'a') + rowCount(store, 'b')).toBe(2);
    });

    it('returns the same envelopes after a reopen', async () => {
      const first = openLog();
      const nested: AgentEvent = {
        type: 'sub_session_event',
        parent_session_id: 'p',
        child_session_id: 'c',
        run_id: 'r1',
        event: { type: 'tool_start', tool_call_id: 't', tool_name: 'grep', arguments: { q: 'x' } },
      };
      const written = [first.log.append('p', token('a')), first.log.append('p', nested)];
      await nextTurn();
      first.store.close();
      expect(openLog().log.read('p', 0)).toEqual({ envelopes: written, firstRetainedSeq: 1, lastSeq: 2 });
    });

    it('skips and reports a stored event that fails the schema', async () => {
      const reported: InvalidSessionDataError[] = [];
      const { store, log } = openLog({ onInvalidRow: (error) => reported.push(error) });
      for (let i = 1; i <= 4; i++) log.append('a', token(String(i)));
      await nextTurn();
      store.database.prepare("UPDATE events SET json = '{oops' WHERE seq = 2").run();
      store.database.prepare(`UPDATE events SET json = '{"type":"token"}' WHERE seq = 3`).run();
      expect(seqs(log, 'a', 0)).toEqual([1, 4]);
      expect(reported.map((e) => e.message)).toEqual([
        expect.stringMatching(/session a .*event seq 2/),
        expect.stringMatching(/event seq 3/),
      ]);
      expect(log.invalidRows).toHaveLength(2);
    });
  });

  describe('retention', () => {
    it('keeps the table bounded and reads exactly the last `retention` envelopes', async () => {
      const { store, log } = openLog({ retention: 10 });
      for (let i = 1; i <= 1000; i++) {
        log.append('a', token(String(i)));
        if (i % 7 === 0) await nextTurn();
        expect(rowCount(store, 'a')).toBeLessThanOrEqual(10 + 1 + 7);
      }
      const { envelopes, firstRetainedSeq, lastSeq } = log.read('a', 0);
      expect(envelopes.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 991 + i));
      expect(firstRetainedSeq).toBe(991);
      expect(lastSeq).toBe(1000);
      expect(seqs(log, 'a', 995)).toEqual([996, 997, 998, 999, 1000]);
      expect(rowCount(store, 'a')).toBeLessThanOrEqual(11);
    });

    it('applies retentionFor per session and retention 0 keeps nothing', () => {
      const { store, log } = openLog({ retentionFor: (id) => (id === 'small' ? 2 : 0) });
      for (let i = 0; i < 5; i++) {
        log.append('small', token('s'));
        log.append('none', token('n'));
      }
      expect(seqs(log, 'small', 0)).toEqual([4, 5]);
      expect(log.read('none', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 5 });
      expect(rowCount(store, 'none')).toBe(0);
    });

    it('rejects bad retention settings', () => {
      const store = new SqliteSessionStore({ path: ':memory:' });
      stores.push(store);
      expect(() => new SqliteEventLog(store, { retention: -1 })).toThrow(SproutValidationError);
      const log = new SqliteEventLog(store, { retentionFor: () => 0.5 });
      expect(() => log.append('a', token('x'))).toThrow(SproutValidationError);
    });
  });

  describe('writing', () => {
    it('writes every append at once with batch: false', () => {
      const { store, log } = openLog({ batch: false });
      log.append('a', token('1'));
      expect(rowCount(store, 'a')).toBe(1);
    });

    it('with batch: false a refused append is never written and gives its seq back', () => {
      const { store, log } = openLog({ batch: false });
      store.database.exec(
        "CREATE TRIGGER fail BEFORE INSERT ON events WHEN NEW.json LIKE '%refuse%' BEGIN SELECT RAISE(ABORT, 'boom'); END",
      );
      expect(log.append('a', token('1')).seq).toBe(1);
      expect(() => log.append('a', token('refuse me'))).toThrow(StoreUnavailableError);
      expect(log.append('a', token('2')).seq).toBe(2);
      expect(seqs(log, 'a', 0)).toEqual([1, 2]);
      expect(rowCount(store, 'a')).toBe(2);
      expect(log.read('a', 0).envelopes.map((e) => e.event)).toEqual([token('1'), token('2')]);
    });

    it('flushes synchronously once MAX_PENDING appends are queued', () => {
      const { store, log } = openLog({ retention: MAX_PENDING * 2 });
      for (let i = 0; i < MAX_PENDING; i++) log.append('a', token('t'));
      expect(rowCount(store, 'a')).toBe(MAX_PENDING);
    });

    it('flushes queued appends when the store closes', () => {
      const first = openLog();
      first.log.append('a', token('1'));
      first.store.close();
      expect(() => first.log.append('a', token('2'))).toThrow(StoreUnavailableError);
      expect(seqs(openLog().log, 'a', 0)).toEqual([1]);
    });

    it('reports a failed background flush and retries the queued appends later', async () => {
      const errors: StoreUnavailableError[] = [];
      const { store, log } = openLog({ onError: (error) => errors.push(error) });
      store.database.exec("CREATE TRIGGER fail BEFORE INSERT ON events WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'boom'); END");
      log.append('a', token('1'));
      log.append('a', token('2'));
      await nextTurn();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
      expect(errors[0]!.message).toMatch(/boom/);
      expect(rowCount(store, 'a')).toBe(0);
      store.database.exec('DROP TRIGGER fail');
      expect(seqs(log, 'a', 0)).toEqual([1, 2]);
      expect(rowCount(store, 'a')).toBe(2);
    });

    it('works on a raw better-sqlite3 database, migrating it', () => {
      const db = new Database(':memory:');
      const log = new SqliteEventLog(db);
      log.append('a', token('1'));
      log.close();
      log.close();
      expect(db.prepare('SELECT seq FROM events').all()).toEqual([{ seq: 1 }]);
      db.close();
    });

    it('leaves the database intact', async () => {
      const { store, log } = openLog({ retention: 5 });
      for (let i = 0; i < 300; i++) log.append(`s${i % 4}`, token(String(i)));
      await nextTurn();
      expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    });
  });
});
