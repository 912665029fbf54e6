import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { SproutValidationError } from '../../src/errors.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';

const token = (content: string): AgentEvent => ({ type: 'token', content });
const seqs = (log: MemoryEventLog, sessionId: string, afterSeq: number) => log.read(sessionId, afterSeq).envelopes.map((e) => e.seq);

describe('MemoryEventLog', () => {
  describe('seq', () => {
    it('starts at 1 and grows by one per session, independently per session', () => {
      const log = new MemoryEventLog();
      expect(log.append('a', token('1'))).toEqual({ seq: 1, sessionId: 'a', event: token('1') });
      expect(log.append('a', token('2')).seq).toBe(2);
      expect(log.append('b', token('x')).seq).toBe(1);
      expect(log.append('a', token('3')).seq).toBe(3);
      expect(log.read('a', 0).lastSeq).toBe(3);
      expect(log.read('b', 0).lastSeq).toBe(1);
    });

    it('returns the appended event object itself inside the envelope', () => {
      const log = new MemoryEventLog();
      const event = token('same');
      expect(log.append('a', event).event).toBe(event);
      expect(log.read('a', 0).envelopes[0]!.event).toBe(event);
    });

    it('keeps counting after close (a seq never repeats)', () => {
      const log = new MemoryEventLog();
      log.append('a', token('1'));
      log.close();
      log.close();
      expect(log.append('a', token('2')).seq).toBe(2);
    });
  });

  describe('read', () => {
    it('reports an unknown session as empty with lastSeq 0', () => {
      expect(new MemoryEventLog().read('nobody', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
    });

    it('returns the retained envelopes with seq > afterSeq, oldest first', () => {
      const log = new MemoryEventLog();
      for (let i = 1; i <= 5; i++) log.append('a', token(String(i)));
      expect(seqs(log, 'a', 0)).toEqual([1, 2, 3, 4, 5]);
      expect(seqs(log, 'a', 3)).toEqual([4, 5]);
      expect(seqs(log, 'a', 5)).toEqual([]);
      expect(seqs(log, 'a', 99)).toEqual([]);
      expect(seqs(log, 'a', -4)).toEqual([1, 2, 3, 4, 5]);
      expect(seqs(log, 'a', Number.NaN)).toEqual([1, 2, 3, 4, 5]);
      expect(seqs(log, 'a', 2.7)).toEqual([3, 4, 5]);
      expect(log.read('a', 3).envelopes.map((e) => e.event)).toEqual([token('4'), token('5')]);
      expect(log.read('a', 3)).toMatchObject({ firstRetainedSeq: 1, lastSeq: 5 });
    });
  });

  describe('retention', () => {
    it('keeps only the last `retention` envelopes and moves firstRetainedSeq', () => {
      const log = new MemoryEventLog({ retention: 3 });
      for (let i = 1; i <= 10; i++) log.append('a', token(String(i)));
      expect(log.read('a', 0)).toEqual({
        envelopes: [8, 9, 10].map((seq) => ({ seq, sessionId: 'a', event: token(String(seq)) })),
        firstRetainedSeq: 8,
        lastSeq: 10,
      });
      expect(seqs(log, 'a', 8)).toEqual([9, 10]);
    });

    it('stays correct at every step across many wrap-arounds of the ring', () => {
      const retention = 7;
      const log = new MemoryEventLog({ retention });
      for (let n = 1; n <= 60; n++) {
        log.append('a', token(`e${n}`));
        const first = Math.max(1, n - retention + 1);
        const { envelopes, firstRetainedSeq, lastSeq } = log.read('a', 0);
        expect(firstRetainedSeq).toBe(first);
        expect(lastSeq).toBe(n);
        const retained = Array.from({ length: n - first + 1 }, (_, i) => first + i);
        expect(envelopes.map((e) => e.seq)).toEqual(retained);
        expect(envelopes.map((e) => (e.event as { content: string }).content)).toEqual(envelopes.map((e) => `e${e.seq}`));
        expect(seqs(log, 'a', n - 2)).toEqual(retained.filter((seq) => seq > n - 2));
      }
    });

    it('retains 1000 per session by default', () => {
      const log = new MemoryEventLog();
      for (let i = 0; i < 1005; i++) log.append('a', token('t'));
      const { envelopes, firstRetainedSeq } = log.read('a', 0);
      expect(envelopes).toHaveLength(1000);
      expect(firstRetainedSeq).toBe(6);
    });

    it('retains nothing with retention 0, while seq still counts', () => {
      const log = new MemoryEventLog({ retention: 0 });
      expect(log.append('a', token('1')).seq).toBe(1);
      expect(log.append('a', token('2')).seq).toBe(2);
      expect(log.read('a', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 2 });
    });

    it('rejects a retention that is not a non-negative integer', () => {
      expect(() => new MemoryEventLog({ retention: -1 })).toThrow(SproutValidationError);
      expect(() => new MemoryEventLog({ retention: 1.5 })).toThrow(SproutValidationError);
    });
  });
});
