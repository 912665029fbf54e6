// `run` (src/core/run-session.ts) when the queue says no: a refusal before the save keeps nothing,
// and a refusal after it (another front door took the last room meanwhile) puts the session back
// as it was — unless someone saved it since. A real MemorySessionStore; the queue is a stub that
// answers as the distributed admission script does.
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { systemClock } from '../../src/clock.js';
import { runSession, type RunSessionDeps } from '../../src/core/run-session.js';
import { QueueFullError } from '../../src/distributed/errors.js';
import { rootSession } from '../support/harness.js';

let ids = 0;

function deps(store: MemorySessionStore, overrides: Partial<RunSessionDeps<[]>> = {}): RunSessionDeps<[]> {
  return {
    store,
    clock: systemClock,
    createId: () => `id-${++ids}`,
    onParentEnd: 'cancel',
    liveRunId: () => undefined,
    starting: new Map(),
    lineage: () => [],
    none: [],
    enqueue: (_job, _title, runId) => Promise.resolve({ runId }),
    ...overrides,
  };
}

describe('run() refused by the queue', () => {
  it('refused before the save (admit): nothing is written', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const before = await store.load('r');
    const refusal = runSession(deps(store, { admit: () => Promise.reject(new QueueFullError(1)) }), 'r', { message: 'hi' });
    await expect(refusal).rejects.toBeInstanceOf(QueueFullError);
    expect(await store.load('r')).toEqual(before);
  });

  it('refused after the save: the message and the pending run are taken back', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const before = await store.load('r');
    const refusal = runSession(deps(store, { enqueue: () => Promise.reject(new QueueFullError(1)) }), 'r', { message: 'hi' });
    await expect(refusal).rejects.toBeInstanceOf(QueueFullError);
    const after = await store.load('r');
    expect(after?.messages).toEqual(before?.messages);
    expect(after?.metadata).toEqual(before?.metadata);
  });

  it('refused after the save, but saved by someone else since: their save stays', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const enqueue: RunSessionDeps<[]>['enqueue'] = async () => {
      const theirs = (await store.load('r'))!;
      theirs.title = 'renamed meanwhile';
      await store.save(theirs);
      throw new QueueFullError(1);
    };
    await expect(runSession(deps(store, { enqueue }), 'r', { message: 'hi' })).rejects.toBeInstanceOf(QueueFullError);
    const after = await store.load('r');
    expect(after?.title).toBe('renamed meanwhile');
    expect(after?.messages.at(-1)?.content).toBe('hi');
  });

  it('a queue that is away (not a refusal) keeps the message: the run may be queued after all', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const away = Object.assign(new Error('connection reset'), { code: 'QUEUE_UNAVAILABLE' });
    await expect(runSession(deps(store, { enqueue: () => Promise.reject(away) }), 'r', { message: 'hi' })).rejects.toBe(away);
    const after = await store.load('r');
    expect(after?.messages.at(-1)?.content).toBe('hi');
    expect(after?.metadata.last_run_status).toBe('pending');
  });
});

describe('run() refused because the session is being deleted', () => {
  it('is not put back: a refusal after the save never stores a deleted session again', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const gone = Object.assign(new Error('parent session (its tree is being deleted)'), { code: 'SESSION_NOT_FOUND' });
    const enqueue: RunSessionDeps<[]>['enqueue'] = async () => {
      await store.delete('r');
      throw gone;
    };
    await expect(runSession(deps(store, { enqueue }), 'r', { message: 'hi' })).rejects.toBe(gone);
    expect(await store.load('r')).toBeUndefined();
  });

  it('a queue-full refusal after a delete does not store the session again either', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    const enqueue: RunSessionDeps<[]>['enqueue'] = async () => {
      await store.delete('r');
      throw new QueueFullError(1);
    };
    await expect(runSession(deps(store, { enqueue }), 'r', { message: 'hi' })).rejects.toBeInstanceOf(QueueFullError);
    expect(await store.load('r')).toBeUndefined();
  });
});

describe('run() put back while a tree delete runs', () => {
  it('a put-back save that stores a session deleted meanwhile is undone (the queue says the tree is going)', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession('r'));
    let deleting = false;
    const save = store.save.bind(store);
    let saves = 0;
    store.save = async (session) => {
      saves += 1;
      // The put-back (the second save): a tree delete marked the session and deleted it just before.
      if (saves === 2) {
        deleting = true;
        await store.delete('r');
      }
      return save(session);
    };
    const admit = (): Promise<void> =>
      deleting ? Promise.reject(Object.assign(new Error('in a tree being deleted'), { code: 'SESSION_NOT_FOUND' })) : Promise.resolve();
    const refusal = runSession(deps(store, { admit, enqueue: () => Promise.reject(new QueueFullError(1)) }), 'r', { message: 'hi' });
    await expect(refusal).rejects.toBeInstanceOf(QueueFullError);
    expect(saves).toBe(2);
    expect(await store.load('r')).toBeUndefined();
  });
});
