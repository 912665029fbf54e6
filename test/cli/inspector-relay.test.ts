import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startInspectorRelay, type InspectorRelay } from '../../src/cli/inspector-relay.js';
import { startCli, tempDb } from './cli-process.js';

/** The top-level state name of a snapshot value (`{ running: {…} }` → `running`). */
const stateName = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : value && typeof value === 'object' ? Object.keys(value)[0] : undefined;

describe('sprout demo --inspect', () => {
  it('relays the scheduler and every job machine to a createWebSocketReceiver on 127.0.0.1, without heartbeat noise', async () => {
    const demo = startCli([
      'demo',
      '--json',
      '--inspect=0',
      '--children',
      '2',
      '--concurrency',
      '1',
      '--seed',
      'inspect',
      '--db',
      tempDb(),
    ]);
    const line = await demo.waitForLine(/receivers connect to ws:\/\//, 'stderr');
    const url = /(ws:\/\/\S+\/)/.exec(line)?.[1] ?? '';
    expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(demo.stderr()).toMatch(/inspector: open http:\/\/127\.0\.0\.1:\d+\/ in a browser/);
    expect(demo.stderr()).toMatch(/stately\.ai/);

    const events: StatelyInspectionEvent[] = [];
    createWebSocketReceiver({ server: url }).subscribe((event) => events.push(event));
    expect(await demo.exited).toBe(0);

    const actors = events.flatMap((event) => (event.type === '@xstate.actor' ? [event] : []));
    const names = new Map(actors.map((actor) => [actor.sessionId, actor.name]));
    expect(actors.map((actor) => actor.name)).toEqual(expect.arrayContaining(['spawnScheduler', 'job-0']));
    const jobActors = actors.filter((actor) => actor.name.startsWith('job-'));
    expect(jobActors).toHaveLength(2);
    const scheduler = actors.find((actor) => actor.name === 'spawnScheduler');
    for (const job of jobActors) expect(job.parentId).toBe(scheduler?.sessionId);

    const jobStates = new Set(
      events.flatMap((event) =>
        event.type === '@xstate.snapshot' && names.get(event.sessionId)?.startsWith('job-') === true
          ? [stateName((event.snapshot as { value?: unknown }).value)]
          : [],
      ),
    );
    for (const state of ['loading', 'reserving', 'markingRunning', 'running', 'finalizing', 'completed'])
      expect(jobStates).toContain(state);

    const eventTypes = events.flatMap((event) =>
      event.type === '@xstate.actor' ? [] : [String((event.event as { type?: unknown }).type)],
    );
    expect(eventTypes).toContain('scheduler.enqueue');
    expect(eventTypes.filter((type) => type.includes('heartbeatInterval'))).toEqual([]);
  });
});

describe('startInspectorRelay', () => {
  let relay: InspectorRelay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('listens on 127.0.0.1 only and serves the bridge page that embeds the Stately inspector', async () => {
    relay = await startInspectorRelay({ port: 0 });
    expect(relay.address.address).toBe('127.0.0.1');
    expect(relay.pageUrl).toBe(`http://127.0.0.1:${relay.address.port}/`);

    const page = await fetch(relay.pageUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('https://stately.ai/inspect');
    expect(html).toContain("new WebSocket('ws://' + location.host + '/')");
  });

  it('refuses connections on any non-loopback address of this machine', async () => {
    relay = await startInspectorRelay({ port: 0 });
    const external = Object.values(networkInterfaces())
      .flat()
      .find((info) => info !== undefined && info.family === 'IPv4' && !info.internal);
    if (!external) return; // no external interface here: the bind address assertion above stands alone
    const error = await new Promise<Error>((resolve) => {
      const socket = new WebSocket(`ws://${external.address}:${relay?.address.port}/`);
      socket.on('open', () => resolve(new Error('connected')));
      socket.on('error', resolve);
    });
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('rejects browser pages of other origins and foreign Host headers (DNS rebinding)', async () => {
    relay = await startInspectorRelay({ port: 0 });
    const attempt = (headers: Record<string, string>) =>
      new Promise<number | 'open'>((resolve) => {
        const socket = new WebSocket(relay?.wsUrl ?? '', { headers });
        socket.on('open', () => {
          socket.close();
          resolve('open');
        });
        socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        socket.on('error', () => undefined);
      });
    expect(await attempt({ Origin: 'https://evil.example' })).toBe(403);
    expect(await attempt({ Host: `evil.example:${relay.address.port}` })).toBe(403);
    expect(await attempt({ Origin: `http://127.0.0.1:${relay.address.port}` })).toBe('open');
    expect(await attempt({})).toBe('open');
    // fetch() cannot set Host: ask with node:http, as a DNS-rebound browser page would arrive.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request({ host: '127.0.0.1', port: relay?.address.port, path: '/', headers: { Host: 'evil.example' } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
  });

  it('forwards a source’s events to viewers and replays actor registrations to late viewers', async () => {
    relay = await startInspectorRelay({ port: 0, bufferLimit: 1 });
    const source = new WebSocket(relay.sourceUrl);
    await new Promise((resolve) => source.once('open', resolve));
    await relay.waitForSource(1000);
    const event = (type: string, n: number) => JSON.stringify({ type, sessionId: `x:${n}`, _version: 'test' });
    source.send(event('@xstate.actor', 1));
    source.send(event('@xstate.snapshot', 2));
    source.send(event('@xstate.snapshot', 3));
    source.send('not an inspection event');
    expect(await relay.waitForReceived(3, 2000)).toBe(true);

    const late = new WebSocket(relay.wsUrl);
    const received: string[] = [];
    late.on('message', (data: Buffer) => received.push((JSON.parse(data.toString()) as { sessionId: string }).sessionId));
    await new Promise((resolve) => late.once('open', resolve));
    source.send(event('@xstate.event', 4));
    await relay.waitForReceived(4, 2000);
    await new Promise<void>((resolve) => {
      const check = () => (received.length >= 3 ? resolve() : late.once('message', check));
      check();
    });
    // bufferLimit 1 keeps only the last other event, but every actor registration.
    expect(received).toEqual(['x:1', 'x:3', 'x:4']);
    source.close();
    late.close();
  });
});
