import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { isInspectorNoise } from '../../src/cli/inspector-noise.js';
import { safeJsonStringify } from '../../src/cli/safe-json.js';

const event = (type: string, inner?: unknown): StatelyInspectionEvent => ({
  type: '@xstate.event',
  event: { type, ...(inner === undefined ? {} : { event: inner }) },
  sessionId: 'x:1',
  rootId: 'x:0',
  sourceId: undefined,
  createdAt: '0',
  id: 'i',
  _version: 't',
});

describe('isInspectorNoise', () => {
  it('drops heartbeat ticks and token traffic, keeps state changes and actor registrations', () => {
    expect(isInspectorNoise(event('xstate.after.heartbeatInterval.spawnJob.running.heartbeat.beating'))).toBe(true);
    expect(
      isInspectorNoise({
        ...event('xstate.after.heartbeatInterval.spawnJob.running.heartbeat.beating'),
        type: '@xstate.snapshot',
        snapshot: {},
      } as StatelyInspectionEvent),
    ).toBe(true);
    expect(isInspectorNoise(event('token'))).toBe(true);
    expect(isInspectorNoise(event('sub_session_heartbeat'))).toBe(true);
    expect(isInspectorNoise(event('sub_session_event', { type: 'reasoning_token', content: 'x' }))).toBe(true);
    expect(isInspectorNoise(event('sub_session_event', { type: 'tool_start' }))).toBe(false);
    expect(isInspectorNoise(event('xstate.after.maxRun.spawnJob.running.deadline.armed'))).toBe(false);
    expect(isInspectorNoise(event('job.cancel'))).toBe(false);
    expect(isInspectorNoise({ type: '@xstate.actor', name: 'job-0', sessionId: 'x:1' } as StatelyInspectionEvent)).toBe(false);
  });
});

describe('safeJsonStringify', () => {
  it('never throws on cycles, bigints, errors, functions or depth', () => {
    const cyclic: Record<string, unknown> = { n: 1n, error: new Error('boom'), fn: function named() {} };
    cyclic.self = cyclic;
    expect(JSON.parse(safeJsonStringify(cyclic))).toEqual({
      n: '1',
      error: { name: 'Error', message: 'boom' },
      fn: { type: 'named' },
      self: '[Circular]',
    });
    expect(safeJsonStringify({ a: { b: { c: 1 } } }, 2)).toBe('{"a":{"b":"[Object]"}}');
    expect(safeJsonStringify({ toJSON: () => ({ shown: true }) })).toBe('{"shown":true}');
    expect(safeJsonStringify(undefined)).toBe('null');
  });
});
