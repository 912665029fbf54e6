import { describe, expect, it } from 'vitest';
import { parseEnvelopes, runCli, tempDb } from './cli-process.js';

describe('sprout demo --json', () => {
  it('prints the wire envelopes of the parent stream, one per line, and ends with one completion per child and exit 0', async () => {
    const result = await runCli(['demo', '--json', '--children', '3', '--concurrency', '2', '--seed', 'json-1', '--db', tempDb()]);

    expect(result.code).toBe(0);
    const envelopes = parseEnvelopes(result.stdout);
    const [first] = envelopes;
    expect(first?.seq).toBe(1);
    expect(envelopes.map((envelope) => envelope.seq)).toEqual(envelopes.map((_, i) => i + 1));
    expect(new Set(envelopes.map((envelope) => envelope.sessionId)).size).toBe(1);

    const started = envelopes.flatMap(({ event }) => (event.type === 'sub_session_started' ? [event] : []));
    const completed = envelopes.flatMap(({ event }) => (event.type === 'sub_session_completed' ? [event] : []));
    expect(started).toHaveLength(3);
    expect(completed).toHaveLength(3);
    expect(completed.map((event) => event.status)).toEqual(['completed', 'completed', 'completed']);
    expect(new Set(completed.map((event) => event.run_id))).toEqual(new Set(started.map((event) => event.run_id)));
    for (const event of completed) expect(event.result).toMatch(/\w+/);

    // Realistic work reached the parent: tokens, tool calls and heartbeats, all before each completion.
    const inner = envelopes.flatMap(({ event }) => (event.type === 'sub_session_event' ? [event.event.type] : []));
    expect(inner).toEqual(expect.arrayContaining(['reasoning_token', 'token', 'tool_start', 'tool_complete', 'complete']));
    expect(envelopes.some(({ event }) => event.type === 'sub_session_heartbeat')).toBe(true);
    for (const done of completed) {
      const at = envelopes.findIndex(({ event }) => event === done);
      const later = envelopes.slice(at + 1).filter(({ event }) => 'run_id' in event && event.run_id === done.run_id);
      expect(later).toEqual([]);
    }
    expect(result.stderr).toMatch(/3\/3 runs ended as expected/);
  });
});
