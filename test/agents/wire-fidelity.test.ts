import { describe, expect, it } from 'vitest';
import { agentEventSchema, subSessionHeartbeatEventSchema, toToolResult } from '../../machines/agent-event.events.js';
import { toUsage } from '../../src/agents/ai-sdk/ai-sdk-agent.js';

describe('wire fidelity with Bamboo', () => {
  it('toUsage always reports all three counters (0 when unreported, total = sum)', () => {
    expect(toUsage({ inputTokens: undefined, outputTokens: 5, totalTokens: undefined } as never)).toEqual({
      prompt_tokens: 0,
      completion_tokens: 5,
      total_tokens: 5,
    });
    expect(toUsage({ inputTokens: 3, outputTokens: 4, totalTokens: 9 } as never)).toEqual({
      prompt_tokens: 3,
      completion_tokens: 4,
      total_tokens: 9,
    });
    expect(toUsage({} as never)).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  it('complete.usage is completed by validation, so the wire always carries the three counters', () => {
    const parsed = agentEventSchema.parse({ type: 'complete', usage: { completion_tokens: 7, cached_tokens: 2 } });
    expect(parsed).toEqual({ type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 7, total_tokens: 7, cached_tokens: 2 } });
    expect(agentEventSchema.safeParse({ type: 'complete', usage: { prompt_tokens: -1 } }).success).toBe(false);
  });

  it("tool_complete.result becomes Bamboo's {success, result, display_preference?} object", () => {
    expect(toToolResult('3 hits')).toEqual({ success: true, result: '3 hits' });
    expect(toToolResult({ sum: 5 })).toEqual({ success: true, result: '{"sum":5}' });
    expect(toToolResult(undefined)).toEqual({ success: true, result: '' });
    expect(toToolResult({ success: false, result: 'denied', display_preference: 'markdown' })).toEqual({
      success: false,
      result: 'denied',
      display_preference: 'markdown',
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(toToolResult(cyclic)).toEqual({ success: true, result: '[object Object]' });
    expect(agentEventSchema.parse({ type: 'tool_complete', tool_call_id: 't1', result: [1, 2] })).toEqual({
      type: 'tool_complete',
      tool_call_id: 't1',
      result: { success: true, result: '[1,2]' },
    });
  });

  it('heartbeat timestamps must be RFC 3339 UTC', () => {
    const base = { type: 'sub_session_heartbeat', parent_session_id: 'p', child_session_id: 'c', run_id: 'r', events_seen: 0 };
    expect(subSessionHeartbeatEventSchema.safeParse({ ...base, timestamp: '2026-01-01T00:00:00.000Z' }).success).toBe(true);
    expect(subSessionHeartbeatEventSchema.safeParse({ ...base, timestamp: '2026-01-01 00:00:00' }).success).toBe(false);
    expect(subSessionHeartbeatEventSchema.safeParse({ ...base, timestamp: 'yesterday' }).success).toBe(false);
  });
});
