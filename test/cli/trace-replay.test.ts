import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir } from './cli-process.js';

describe('sprout demo --trace and sprout trace-replay', () => {
  it('writes the inspection events as JSON Lines, and replays them into the inspector relay', async () => {
    const dir = tempDir();
    const trace = join(dir, 'run.trace.jsonl');
    const demo = await runCli(['demo', '--json', '--children', '2', '--seed', 'trace', '--trace', trace, '--db', join(dir, 'sprout.db')]);
    expect(demo.code).toBe(0);

    const lines = readFileSync(trace, 'utf8').trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as StatelyInspectionEvent);
    expect(new Set(events.map((event) => event.type))).toEqual(new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    expect(events.filter((event) => event.type === '@xstate.actor').map((event) => event.name)).toEqual(
      expect.arrayContaining(['spawnScheduler', 'job-0', 'job-1']),
    );
    const eventTypes = events.flatMap((event) =>
      event.type === '@xstate.actor' ? [] : [String((event.event as { type?: unknown }).type)],
    );
    expect(eventTypes.filter((type) => type.startsWith('xstate.after.heartbeatInterval'))).toEqual([]);
    expect(events[0]).toMatchObject({ type: '@xstate.actor', name: 'spawnScheduler' });

    const replay = startCli(['trace-replay', trace, '--inspect=0']);
    const line = await replay.waitForLine(/receivers connect to ws:\/\//, 'stdout');
    expect(replay.stdout()).toContain(`replaying ${events.length} inspection events`);
    const url = /(ws:\/\/\S+\/)/.exec(line)?.[1] ?? '';
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const received: StatelyInspectionEvent[] = [];
    await new Promise<void>((resolve) => {
      createWebSocketReceiver({ server: url }).subscribe((event) => {
        received.push(event);
        if (received.length === events.length) resolve();
      });
    });
    expect(received).toEqual(events);

    replay.child.kill('SIGTERM');
    expect(await replay.exited).toBe(0);
  });
});
