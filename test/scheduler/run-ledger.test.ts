import { describe, expect, it } from 'vitest';
import { RunLedger, type RunEnd, type RunRecord } from '../../src/scheduler/run-ledger.js';
import { RunLedgers } from '../../src/scheduler/run-ledgers.js';

const run = (runId: string, childSessionId = 'c', announced = true) => ({ runId, childSessionId, parentSessionId: 'p', announced });

describe('RunLedger: the one owner of a run', () => {
  it('queue → reserve → end; liveRun answers "is this child running, and which run?"', () => {
    let now = 10;
    const ledger = new RunLedger({ now: () => now });
    const changes: RunRecord['status'][] = [];
    ledger.changed$.subscribe((record) => changes.push(record.status));
    expect(ledger.queue(run('r1'))).toBe(true);
    expect(ledger.liveRun('c')).toMatchObject({ runId: 'r1', status: 'queued', enqueuedAt: 10 });
    now = 20;
    expect(ledger.reserve('c', 'r1', 'p')).toBe(true);
    expect(ledger.liveRun('c')).toMatchObject({ runId: 'r1', status: 'running', startedAt: 20 });
    now = 30;
    ledger.end({ childSessionId: 'c', runId: 'r1', status: 'completed', result: 'ok' });
    expect(ledger.liveRun('c')).toBeUndefined();
    expect(ledger.runOf('c')).toMatchObject({ runId: 'r1', status: 'completed', result: 'ok', endedAt: 30 });
    expect(changes).toEqual(['queued', 'running', 'completed']);
  });

  it('refuses a second live run of a child (queue and reserve), accepts one after the first ended', () => {
    const ledger = new RunLedger({ now: () => 0 });
    ledger.queue(run('r1'));
    expect(ledger.queue(run('r2'))).toBe(false);
    expect(ledger.reserve('c', 'r2', 'p')).toBe(false);
    expect(ledger.reserve('c', 'r1', 'p')).toBe(true);
    expect(ledger.reserve('c', 'r1', 'p')).toBe(false); // a second job actor of the same run
    ledger.end({ childSessionId: 'c', runId: 'r1', status: 'error', error: 'boom' });
    expect(ledger.queue(run('r2'))).toBe(true);
    expect(ledger.liveRun('c')?.runId).toBe('r2');
  });

  it('a stale run never overwrites the newer one, but its end is still announced', () => {
    const ledger = new RunLedger({ now: () => 0 });
    const ends: RunEnd[] = [];
    ledger.ended$.subscribe((end) => ends.push(end));
    ledger.queue(run('old'));
    ledger.end({ childSessionId: 'c', runId: 'old', status: 'cancelled' });
    ledger.queue(run('new'));
    ledger.reserve('c', 'new', 'p');
    ledger.end({ childSessionId: 'c', runId: 'old', status: 'completed' });
    expect(ledger.runOf('c')).toMatchObject({ runId: 'new', status: 'running' });
    expect(ledger.isCurrent('c', 'old')).toBe(false);
    expect(ledger.isCurrent('c', 'new')).toBe(true);
    expect(ledger.isCurrent('unknown', 'x')).toBe(true);
    expect(ends.map((end) => `${end.runId}:${end.status}`)).toEqual(['old:cancelled', 'old:completed']);
  });

  it('claims an end exactly once per run until its job actor is released', () => {
    const ledger = new RunLedger({ now: () => 0 });
    expect(ledger.claimEnd('r1')).toBe(true);
    expect(ledger.claimEnd('r1')).toBe(false);
    ledger.release('r1');
    expect(ledger.claimEnd('r1')).toBe(true);
  });

  it('an accepted run (waiting for queue room) is live before it is announced; announcing keeps the record', () => {
    const ledger = new RunLedger({ now: () => 0 });
    ledger.queue(run('r1', 'c', false));
    expect(ledger.liveRun('c')).toMatchObject({ runId: 'r1', announced: false });
    ledger.queue(run('r1', 'c', true));
    expect(ledger.liveRun('c')).toMatchObject({ runId: 'r1', announced: true, status: 'queued' });
  });

  it('a run whose announcement was refused is dropped (not live); a later run of the child is accepted', () => {
    const ledger = new RunLedger({ now: () => 0 });
    ledger.queue(run('r1'));
    ledger.drop('c', 'r1');
    expect(ledger.liveRun('c')).toBeUndefined();
    ledger.drop('c', 'r1'); // idempotent
    expect(ledger.queue(run('r2'))).toBe(true);
  });

  it('keeps at most retainEnded ended runs, never evicting a live one', () => {
    const ledger = new RunLedger({ now: () => 0, retainEnded: 2 });
    for (const id of ['a', 'b', 'c']) {
      ledger.queue(run(`r-${id}`, id));
      ledger.end({ childSessionId: id, runId: `r-${id}`, status: 'completed' });
    }
    ledger.queue(run('r-live', 'live'));
    expect([...ledger.records()].map((record) => record.childSessionId).sort()).toEqual(['b', 'c', 'live']);
  });
});

describe('RunLedgers: one ledger per scheduler actor', () => {
  it('gives each owner its own ledger and answers across all of them', () => {
    const ledgers = new RunLedgers({ now: () => 0 });
    const a = ledgers.of({ name: 'a' });
    const ownerB = { name: 'b' };
    const b = ledgers.of(ownerB);
    expect(ledgers.of(ownerB)).toBe(b);
    expect(a).not.toBe(b);
    a.queue(run('ra', 'x'));
    // The same child in another scheduler is that scheduler's business.
    expect(b.queue(run('rb', 'x'))).toBe(true);
    expect(ledgers.liveRun('x')?.runId).toBe('ra');
    const ends: string[] = [];
    ledgers.ended$.subscribe((end) => ends.push(end.runId));
    a.end({ childSessionId: 'x', runId: 'ra', status: 'completed' });
    expect(ledgers.liveRun('x')?.runId).toBe('rb');
    expect(ends).toEqual(['ra']);
  });
});
