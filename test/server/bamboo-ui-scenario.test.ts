import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { teamAgent } from './support/bamboo-ui-agent.js';
import { LegacyLotusChat, LotusNextChat } from './support/bamboo-ui-state.js';
import { lotusSubscribe, type LotusStream } from './support/lotus-sse.js';
import { LotusSocket } from './support/lotus-socket.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

/** Both UIs' ApiClients send `Content-Type: application/json` on every call. */
const JSON_HEADERS = { 'content-type': 'application/json' };
const post = <T = Record<string, unknown>>(url: string, body?: unknown) =>
  api<T>(url, { method: 'POST', headers: JSON_HEADERS, ...(body === undefined ? {} : { body }) });

const CANCEL_TEXT = 'Agent execution cancelled by user';

/**
 * The issue's scenario, driven the way each UI drives it: a conversation whose root agent spawns
 * three children on `sprout serve`'s scripted default; one fails, one is stopped from the UI, the
 * UI's connection drops in the middle and comes back; at the end the UI has left processing and
 * its cards match what happened.
 */
describe('a Bamboo UI drives a team run on sprout serve', () => {
  let t: TestServer | undefined;
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await t?.close();
    t = undefined;
  });
  /** Resolves with the first event of a session's stream (retained ones included) that `match` accepts. */
  const heard = (sessionId: string, match: (event: AgentEvent) => boolean): Promise<AgentEvent> =>
    firstValueFrom((t as TestServer).scheduler.events(sessionId, { afterSeq: 0 }).pipe(filter(({ event }) => match(event)))).then(
      ({ event }) => event,
    );
  const childEnded = (rootId: string, title: string, ids: Map<string, string>) =>
    heard(rootId, (event) => event.type === 'sub_session_completed' && event.child_session_id === ids.get(title));

  it('legacy Lotus (SSE, sub_session): cards, Stop on a child, a reconnect mid-run, leaves processing', async () => {
    t = await startTestServer({ agent: teamAgent() });
    const base = t.url;
    const chat = new LegacyLotusChat();
    const session = (await post<{ session: { id: string } }>(`${base}/api/v1/sessions`, { title: 'New Session' })).body.session;
    const rootId = session.id;
    chat.send();
    await post(`${base}/api/v1/chat`, { message: 'research', session_id: rootId, model: '' });
    await post(`${base}/api/v1/execute/${rootId}`, { model: '' });
    const subscribe = async (): Promise<LotusStream> => {
      const stream = await lotusSubscribe(`${base}/api/v1/events/${rootId}`, JSON_HEADERS);
      closers.push(() => stream.close());
      return stream;
    };
    let applied = 0;
    const follow = (stream: LotusStream) => () => {
      for (; applied < stream.events.length; applied++) chat.apply(stream.events[applied] as { type: string });
    };

    // Connected until the three cards are open; then the connection drops.
    const first = await subscribe();
    await first.until((s) => s.events.filter((event) => event.type === 'sub_session_started').length === 3);
    follow(first)();
    first.close();
    await first.ended;
    const ids = new Map([...chat.cards].map(([id, card]) => [card.title as string, id]));
    expect([...ids.keys()].sort()).toEqual(['Check the numbers', 'Deep dive', 'Survey sources']);
    // While it is away, the survey completes and the check fails.
    await Promise.all([childEnded(rootId, 'Survey sources', ids), childEnded(rootId, 'Check the numbers', ids)]);
    expect(chat.processing).toBe(true);

    // Lotus resubscribes (no cursor): the replay brings the completions it missed.
    applied = 0;
    const second = await subscribe();
    await second.until((s) => s.events.filter((event) => event.type === 'sub_session_completed').length >= 2);
    follow(second)();
    expect(chat.cards.get(ids.get('Survey sources') as string)).toMatchObject({ status: 'completed' });
    expect(chat.cards.get(ids.get('Check the numbers') as string)).toMatchObject({
      status: 'error',
      error: expect.stringContaining('503') as unknown,
    });
    expect(chat.cards.get(ids.get('Deep dive') as string)).toMatchObject({ status: 'running' });

    // The deep dive's own view (Lotus opens a running child and subscribes), then Stop on it.
    const gammaId = ids.get('Deep dive') as string;
    const gamma = await lotusSubscribe(`${base}/api/v1/events/${gammaId}`, JSON_HEADERS);
    closers.push(() => gamma.close());
    const stopped = await post(`${base}/api/v1/stop/${gammaId}`);
    expect(stopped.body).toMatchObject({ success: true });
    expect(await gamma.ended).toEqual({ done: true, serverClosed: true });
    expect(gamma.events.at(-1)).toEqual({ type: 'error', message: CANCEL_TEXT });

    // The root hears the three ends, answers, completes: [DONE], the stream closes, Lotus is idle.
    expect(await second.ended).toEqual({ done: true, serverClosed: true });
    follow(second)();
    expect(chat.processing).toBe(false);
    expect(chat.cards.get(gammaId)).toEqual({ title: 'Deep dive', status: 'cancelled', error: CANCEL_TEXT });
    expect(chat.errors).toEqual([]);
    expect(chat.draft).toContain('1 of 3 tasks finished (Survey sources: completed; Check the numbers: error; Deep dive: cancelled).');
    expect(second.events.at(-1)).toMatchObject({ type: 'complete' });
    expect(chat.unknown.filter((type) => type !== 'reasoning_token')).toEqual([]);
    // A reload afterwards: one-shot replay of the last run, then [DONE].
    const reload = new LegacyLotusChat();
    const after = await subscribe();
    expect(await after.ended).toEqual({ done: true, serverClosed: true });
    for (const event of after.events) reload.apply(event);
    expect(reload.cards).toEqual(chat.cards);
  });

  it('lotus-next (/v2/stream, sub_agent): cards, Stop on a child over the socket, a reconnect mid-run, leaves sending', async () => {
    t = await startTestServer({ agent: teamAgent(), server: { dialect: 'sub_agent' } });
    const base = t.url;
    const chat = new LotusNextChat();
    const open = async (): Promise<LotusSocket> => {
      const socket = await LotusSocket.open(base);
      closers.push(() => socket.close());
      socket.send({ type: 'hello' });
      return socket;
    };
    const ch = (id: string): string => `agent.${id}`;
    let applied = 0;
    const follow = (socket: LotusSocket, rootId: string) => () => {
      const frames = socket.on(ch(rootId));
      for (; applied < frames.length; applied++) {
        const frame = frames[applied];
        if (frame?.event !== undefined) chat.apply(frame.event);
        if (frame?.control?.type === 'terminal') chat.terminal();
      }
    };

    // Send without a session (the server creates it), then subscribe and execute together.
    chat.send();
    const created = await post<{ session_id: string }>(`${base}/api/v1/chat`, { message: 'research', model: '' });
    const rootId = created.body.session_id;
    const first = await open();
    first.send({ type: 'subscribe', ch: ch(rootId) });
    await post(`${base}/api/v1/execute/${rootId}`, { model: '' });
    await first.until(
      () => (first.on(ch(rootId)).filter((frame) => frame.event?.type === 'sub_agent_started').length === 3 ? true : undefined),
      'three sub-agents',
    );
    follow(first, rootId)();
    await first.close();
    const ids = new Map([...chat.cards].map(([id, card]) => [card.title as string, id]));
    await Promise.all([childEnded(rootId, 'Survey sources', ids), childEnded(rootId, 'Check the numbers', ids)]);
    expect(chat.sending).toBe(true);

    // A new socket: hello, then the same subscribe (no cursor), as lotus-next's reconnect does.
    applied = 0;
    const second = await open();
    second.send({ type: 'subscribe', ch: ch(rootId) });
    await second.until(
      () => (second.on(ch(rootId)).filter((frame) => frame.event?.type === 'sub_agent_completed').length >= 2 ? true : undefined),
      'the missed completions',
    );
    follow(second, rootId)();
    expect(chat.cards.get(ids.get('Survey sources') as string)).toMatchObject({ status: 'completed' });
    expect(chat.cards.get(ids.get('Check the numbers') as string)).toMatchObject({
      status: 'error',
      error: expect.stringContaining('503') as unknown,
    });
    expect(chat.cards.get(ids.get('Deep dive') as string)).toMatchObject({ status: 'running' });

    // The deep dive's own channel, then Stop on it over the socket.
    const gammaId = ids.get('Deep dive') as string;
    second.send({ type: 'subscribe', ch: ch(gammaId) });
    await second.roundTrip();
    second.send({ type: 'stop', session_id: gammaId });
    await second.terminal(gammaId);
    expect(second.on(ch(gammaId)).at(-2)?.event).toEqual({ type: 'cancelled', message: CANCEL_TEXT });

    await second.terminal(rootId);
    follow(second, rootId)();
    expect(chat.sending).toBe(false);
    expect(chat.ends).toEqual(['complete']);
    expect(chat.sendError).toBe(false);
    // lotus-next shows a completion that carries an error as `error` (Bamboo's cancel carries one).
    expect(chat.cards.get(gammaId)).toEqual({ title: 'Deep dive', status: 'error', error: CANCEL_TEXT });
    expect(chat.draft).toContain('1 of 3 tasks finished (Survey sources: completed; Check the numbers: error; Deep dive: cancelled).');
    expect(chat.unknown).toEqual([]);
  });

  it("ends a child's own stream when its run is cancelled while still queued (SSE and /v2/stream)", async () => {
    t = await startTestServer({ agent: teamAgent(), scheduler: { perParentConcurrency: 1 } });
    const base = t.url;
    const rootId = (await post<{ session: { id: string } }>(`${base}/api/v1/sessions`, { title: 'Root' })).body.session.id;
    const busy = await t.scheduler.spawnChild(rootId, { title: 'Busy', prompt: 'hold on [slow]' });
    const queued = await t.scheduler.spawnChild(rootId, { title: 'Queued', prompt: 'later' });
    expect((await t.scheduler.getChild(queued.childSessionId))?.status).toBe('queued');
    const sse = await lotusSubscribe(`${base}/api/v1/events/${queued.childSessionId}`, JSON_HEADERS);
    closers.push(() => sse.close());
    const socket = await LotusSocket.open(base);
    closers.push(() => socket.close());
    socket.send({ type: 'subscribe', ch: `agent.${queued.childSessionId}` });
    await socket.roundTrip();

    expect((await post(`${base}/api/v1/stop/${queued.childSessionId}`)).status).toBe(200);
    expect(await sse.ended).toEqual({ done: true, serverClosed: true });
    expect(sse.events).toEqual([{ type: 'error', message: CANCEL_TEXT }]);
    await socket.terminal(queued.childSessionId);
    expect(socket.on(`agent.${queued.childSessionId}`).map((frame) => frame.event ?? frame.control)).toEqual([
      { type: 'cancelled', message: CANCEL_TEXT },
      { type: 'terminal', reason: 'complete' },
    ]);
    await t.scheduler.cancel(busy.childSessionId);
  });
});
