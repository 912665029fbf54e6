import { firstValueFrom, filter } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { toRfc3339 } from '../../src/clock.js';
import { LotusSocket, type Frame } from './support/lotus-socket.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

/** The seqs of a channel's event frames. */
const seqsOf = (frames: Frame[]): number[] => frames.filter((frame) => frame.event !== undefined).map((frame) => frame.seq as number);

describe('lotus-next over /v2/stream', () => {
  let t: TestServer | undefined;
  const sockets: LotusSocket[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
    await t?.close();
    t = undefined;
  });
  const open = async (headers: Record<string, string> = {}): Promise<LotusSocket> => {
    const socket = await LotusSocket.open((t as TestServer).url, headers);
    sockets.push(socket);
    return socket;
  };
  /** Resolves once the session's stream carried its run's terminal event. */
  const ended = (sessionId: string): Promise<unknown> =>
    firstValueFrom(
      (t as TestServer).scheduler
        .events(sessionId, { afterSeq: 0 })
        .pipe(filter(({ event }) => event.type === 'complete' || event.type === 'error')),
    );

  it('answers hello with welcome and ping with pong, and sends sys keepalives', async () => {
    t = await startTestServer({ server: { wsKeepaliveMs: 20 } });
    const socket = await open();
    socket.send({ type: 'hello' });
    await socket.until(() => socket.frames.find((frame) => frame.type === 'welcome'), 'welcome');
    await socket.roundTrip();
    const keepalive = await socket.until(() => socket.on('sys')[0], 'a keepalive');
    expect(keepalive).toEqual({ ch: 'sys', seq: 0, control: { type: 'keepalive' } });
    // Malformed and unknown frames are ignored; the socket stays usable.
    socket.ws.send('not json');
    socket.send({ type: 'subscribe_tree', ch: 'tree.x' });
    await socket.roundTrip();
  });

  it('streams a root run on agent.<sid>, then one terminal control after its complete event', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const socket = await open();
    socket.send({ type: 'hello' });
    socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
    await socket.roundTrip();
    await t.scheduler.run(rootId, { message: 'hello' });
    const terminal = await socket.terminal(rootId);
    const frames = socket.on(`agent.${rootId}`);
    const types = frames.map((frame) => frame.event?.type ?? `control:${frame.control?.type}`);
    expect(types.at(-2)).toBe('complete');
    expect(types.at(-1)).toBe('control:terminal');
    expect(types.filter((type) => type === 'control:terminal')).toHaveLength(1);
    expect(new Set(types)).toEqual(new Set(['token', 'tool_start', 'tool_complete', 'complete', 'control:terminal']));
    expect(terminal.control).toEqual({ type: 'terminal', reason: 'complete' });
    expect(terminal.seq).toBe(frames.at(-2)?.seq);
    const seqs = seqsOf(frames);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(frames.find((frame) => frame.event?.type === 'tool_complete')?.event?.result).toEqual({ success: true, result: '{"hits":3}' });
  });

  it('loses nothing when lotus reconnects mid-run and resubscribes with its last seq', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const ch = `agent.${rootId}`;
    const first = await open();
    first.send({ type: 'hello' });
    first.send({ type: 'subscribe', ch });
    await first.roundTrip();
    await t.scheduler.run(rootId, { message: 'hello' });
    await first.until(() => first.on(ch).find((frame) => frame.event?.type === 'token'), 'the first token');
    await first.close();
    const before = seqsOf(first.on(ch));
    const last = before.at(-1) as number;

    const second = await open();
    second.send({ type: 'hello' });
    second.send({ type: 'subscribe', ch, since: last });
    await second.terminal(rootId);
    const after = seqsOf(second.on(ch));
    const everything: number[] = [];
    const replay = t.scheduler.events(rootId, { afterSeq: 0 }).subscribe(({ seq }) => everything.push(seq));
    replay.unsubscribe();
    expect([...before, ...after]).toEqual(everything);
    const events = [...first.on(ch), ...second.on(ch)].filter((frame) => frame.event !== undefined);
    expect(events.at(-1)?.event?.type).toBe('complete');
  });

  it('gives a subscriber after the end the last run replayed, then the terminal control', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const firstRun = ended(rootId);
    await t.scheduler.run(rootId, { message: 'hello' });
    await firstRun;
    const firstEnd = (await t.store.load(rootId))?.messages.length;
    const secondRun = firstValueFrom(
      t.scheduler.events(rootId).pipe(filter(({ event }) => event.type === 'complete' || event.type === 'error')),
    );
    await t.scheduler.run(rootId, { message: 'again' });
    const { seq: lastSeq } = await secondRun;
    expect((await t.store.load(rootId))?.messages.length).toBeGreaterThan(firstEnd ?? 0);

    const socket = await open();
    socket.send({ type: 'hello' });
    socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
    await socket.terminal(rootId);
    const frames = socket.on(`agent.${rootId}`);
    const types = frames.map((frame) => frame.event?.type ?? `control:${frame.control?.type}`);
    // Only the second run: one complete, then the control.
    expect(types.filter((type) => type === 'complete')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['complete', 'control:terminal']);
    expect(frames.at(-2)?.seq).toBe(lastSeq);
    expect(types[0]).toBe('token');
  });

  it('ends a resubscribe whose cursor is already at the finished run end with the terminal control', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const run = firstValueFrom(t.scheduler.events(rootId).pipe(filter(({ event }) => event.type === 'complete')));
    await t.scheduler.run(rootId, { message: 'hello' });
    const { seq } = await run;
    const socket = await open();
    socket.send({ type: 'subscribe', ch: `agent.${rootId}`, since: seq });
    const terminal = await socket.terminal(rootId);
    expect(socket.on(`agent.${rootId}`)).toEqual([terminal]);
    expect(terminal.seq).toBe(seq);
  });

  it('treats an agent cursor past the end of the stream (a restarted server) as none; ignores an unknown session', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const run = ended(rootId);
    await t.scheduler.run(rootId, { message: 'hello' });
    await run;
    const socket = await open();
    socket.send({ type: 'subscribe', ch: 'agent.ghost-session' });
    socket.send({ type: 'subscribe', ch: `agent.${rootId}`, since: 9999 });
    await socket.terminal(rootId);
    expect(socket.on(`agent.${rootId}`).at(-2)?.event?.type).toBe('complete');
    await socket.roundTrip();
    expect(socket.on('agent.ghost-session')).toEqual([]);
  });

  it('reports a user cancel as cancelled (what lotus-next handles), then the terminal control', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const socket = await open();
    socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
    await socket.roundTrip();
    await t.scheduler.run(rootId, { message: 'wait [hang]' });
    await socket.until(() => socket.on(`agent.${rootId}`).find((frame) => frame.event?.type === 'token'), 'a token');
    socket.send({ type: 'stop', session_id: rootId });
    await socket.terminal(rootId);
    expect(socket.on(`agent.${rootId}`).at(-2)?.event).toEqual({ type: 'cancelled', message: 'Agent execution cancelled by user' });
  });

  it('never terminates a session whose last message is a pending user turn', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const firstRun = ended(rootId);
    await t.scheduler.run(rootId, { message: 'hello' });
    await firstRun;
    // What POST /api/v1/chat does before lotus-next subscribes and executes: persist the user turn.
    const session = await t.store.load(rootId);
    if (!session) throw new Error('root vanished');
    session.messages.push({ id: 'turn-2', role: 'user', content: 'next question', created_at: toRfc3339(Date.now() + 1) });
    await t.store.save(session);

    const socket = await open();
    socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
    await socket.roundTrip();
    const secondRun = firstValueFrom(t.scheduler.events(rootId).pipe(filter(({ event }) => event.type === 'complete')));
    await t.scheduler.run(rootId, { message: 'next question, run' });
    const { seq } = await secondRun;
    await socket.terminal(rootId);
    const frames = socket.on(`agent.${rootId}`);
    // Nothing of the first run: the subscription waited for the pending turn's run.
    expect(frames.filter((frame) => frame.event?.type === 'complete').map((frame) => frame.seq)).toEqual([seq]);
    expect(frames.at(-1)?.control?.type).toBe('terminal');
  });

  it('holds the terminal control while a child still runs', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const socket = await open();
    socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
    await socket.roundTrip();
    const child = await api<{ childSessionId?: string; child_session_id?: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'slow child', prompt: 'wait [hang]' },
    });
    expect(child.status).toBe(202);
    const runEnded = ended(rootId);
    await t.scheduler.run(rootId, { message: 'hello' });
    await runEnded;
    await socket.until(() => socket.on(`agent.${rootId}`).find((frame) => frame.event?.type === 'complete'), 'the root complete');
    // The root ended but its child runs: a keepalive tick and a pong later, still no terminal.
    await socket.roundTrip();
    expect(socket.on(`agent.${rootId}`).some((frame) => frame.control?.type === 'terminal')).toBe(false);
    await t.scheduler.cancelTree(rootId);
    await socket.terminal(rootId);
    const types = socket.on(`agent.${rootId}`).map((frame) => frame.event?.type ?? `control:${frame.control?.type}`);
    expect(types.indexOf('sub_agent_completed')).toBeGreaterThan(types.indexOf('complete'));
    expect(types.at(-1)).toBe('control:terminal');
  });

  describe('account feed', () => {
    it('journals session_created, execution_started, message_appended and complete with a growing seq', async () => {
      t = await startTestServer();
      const socket = await open();
      socket.send({ type: 'hello' });
      socket.send({ type: 'subscribe', ch: 'feed', since: 0 });
      await socket.roundTrip();
      const rootId = await createRoot(t.url);
      await t.scheduler.run(rootId, { message: 'hello' });
      const typeOf = (frame: Frame): unknown => (frame.event?.event as { type?: unknown } | undefined)?.type;
      await socket.until(() => socket.on('feed').find((frame) => typeOf(frame) === 'complete'), 'complete on the feed');
      const frames = socket.on('feed');
      const entries = frames.map(
        (frame) => frame.event as unknown as { seq: number; ts: string; session_id: string; event: { type: string; role?: string } },
      );
      expect(entries.map((entry) => [entry.event.type, entry.event.role ?? ''])).toEqual([
        ['session_created', ''],
        ['execution_started', ''],
        ['message_appended', 'user'],
        ['message_appended', 'assistant'],
        ['complete', ''],
      ]);
      expect(frames.map((frame) => frame.seq)).toEqual(entries.map((entry) => entry.seq));
      expect(entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(new Set(entries.map((entry) => entry.session_id))).toEqual(new Set([rootId]));
      expect(entries.every((entry) => !Number.isNaN(Date.parse(entry.ts)))).toBe(true);

      // A reconnect with the stored cursor gets what came after it only.
      const again = await open();
      again.send({ type: 'hello' });
      again.send({ type: 'subscribe', ch: 'feed', since: 3 });
      await again.until(() => (again.on('feed').length === 2 ? true : undefined), 'the two later entries');
      expect(again.on('feed').map((frame) => frame.seq)).toEqual([4, 5]);
    });

    it('sends feed_reset for a cursor older than the journal keeps or past its latest seq', async () => {
      t = await startTestServer({ server: { feedRetain: 2 } });
      for (let index = 0; index < 3; index += 1) await createRoot(t.url);
      expect(t.server.feed.latest).toBe(3);
      const socket = await open();
      socket.send({ type: 'subscribe', ch: 'feed', since: 0 });
      await socket.roundTrip();
      expect(socket.on('feed')).toEqual([{ ch: 'feed', seq: 0, control: { type: 'feed_reset', from_seq: 0 } }]);
      socket.send({ type: 'subscribe', ch: 'feed', since: 99 });
      await socket.roundTrip();
      expect(socket.on('feed').at(-1)).toEqual({ ch: 'feed', seq: 0, control: { type: 'feed_reset', from_seq: 99 } });
      socket.send({ type: 'subscribe', ch: 'feed', since: 1 });
      await socket.roundTrip();
      expect(
        socket
          .on('feed')
          .slice(-2)
          .map((frame) => frame.seq),
      ).toEqual([2, 3]);
      // Live after a reset: the next change arrives.
      await createRoot(t.url);
      await socket.until(() => socket.on('feed').find((frame) => frame.seq === 4), 'the live entry');
      expect(t.server.feed.size).toBe(2);
    });
  });

  it('closes its sockets when the server closes', async () => {
    t = await startTestServer();
    const socket = await open();
    socket.send({ type: 'subscribe', ch: 'feed', since: 0 });
    await socket.roundTrip();
    expect(t.server.v2Stream.size).toBe(1);
    await t.close();
    await socket.until(() => (socket.ws.readyState === WebSocket.CLOSED ? true : undefined), 'close');
    expect(t.server.v2Stream.size).toBe(0);
  });
});
