// A worker's `maxDepth` (`createWorker({ maxDepth })`, `sprout worker --max-depth N`): its agents
// spawn as deep as that (through the worker's own front door) and its embedded scheduler forwards
// that many levels, so a tree deeper than the default 4 reaches the root's stream wrapped once per
// level. Real Redis and PostgreSQL; waits on conditions.
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { SproutValidationError } from '../../src/errors.js';
import { startCli } from '../cli/cli-process.js';
import { rootSession } from '../support/harness.js';
import { CHAIN_LEAF, LEAF_TOKENS, chainAgent } from './fixtures/chain-agent-module.js';
import { trackOpened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, storedEvents, streamProblems, until } from './support.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

/** Unwraps nested `sub_session_event`s: `parent>child` per level, and the innermost event. */
function unwrap(event: AgentEvent): { via: string[]; inner: AgentEvent } {
  const via: string[] = [];
  let inner = event;
  while (inner.type === 'sub_session_event') {
    via.push(`${inner.parent_session_id}>${inner.child_session_id}`);
    inner = inner.event;
  }
  return { via, inner };
}

/** A fresh deployment and its front door (which only starts the root's run: its own `maxDepth` stays 4). */
async function deployment(): Promise<{ prefix: string; front: DistributedScheduler }> {
  const made = createTestDeployment();
  opened.deployments.push(made);
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix: made.prefix, eventRetention: 100_000 });
  opened.fronts.push(front);
  await front.start();
  return { prefix: made.prefix, front };
}

/** Runs the chain agent's root `R` and checks the whole chain ran and the leaf's events reached the root's stream. */
async function growChain(prefix: string, front: DistributedScheduler): Promise<void> {
  await front.store.save(rootSession('R'));
  const rootStream: SessionEventEnvelope[] = [];
  front.events('R', { afterSeq: 0 }).subscribe((envelope) => rootStream.push(envelope));
  await front.run('R', { message: 'grow a deep tree' });
  await until(() => rootStream.some(({ event }) => event.type === 'complete' || event.type === 'error'));

  // The chain of sessions, root first: each level has one child, the leaf none.
  const sessions = ['R'];
  for (let level = 1; level <= CHAIN_LEAF; level++) {
    const children = await front.store.listChildren(sessions.at(-1)!);
    expect(children).toHaveLength(1);
    sessions.push(children[0]!.id);
  }
  expect(await front.store.listChildren(sessions.at(-1)!)).toEqual([]);
  for (const id of sessions.slice(1)) expect((await front.store.load(id))?.metadata.last_run_status).toBe('completed');
  expect(rootStream.at(-1)?.event.type).toBe('complete');

  const stored = await storedEvents(prefix, 'R');
  expect(streamProblems(stored)).toEqual([]);
  const hops = sessions.slice(1).map((id, index) => `${sessions[index]}>${id}`);
  const fromLeaf = stored.map((e) => unwrap(e.event)).filter((u) => u.via.length === CHAIN_LEAF);
  const tokens = fromLeaf.filter((u) => u.inner.type === 'token').map((u) => (u.inner as { content: string }).content);
  expect(tokens).toEqual([...LEAF_TOKENS]);
  for (const u of fromLeaf) expect(u.via).toEqual(hops);
  expect(fromLeaf.map((u) => u.inner.type)).toContain('complete');
}

describe('createWorker maxDepth option', () => {
  it('is checked: an integer from 0 to 1000', async () => {
    const refusal = async (maxDepth: number): Promise<unknown> => {
      try {
        const worker = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, agent: chainAgent(), maxDepth, prefix: 'never_started' });
        await worker.stop(); // accepted: closes what it opened
        return undefined;
      } catch (error) {
        return error;
      }
    };
    for (const maxDepth of [-1, 1.5, 1001]) expect(await refusal(maxDepth)).toBeInstanceOf(SproutValidationError);
    expect(await refusal(0)).toBeUndefined();
  });
});

describe.skipIf(unavailable !== undefined)(`a worker with maxDepth ${CHAIN_LEAF}`, () => {
  it(`runs a chain ${CHAIN_LEAF} levels deep and the leaf's events reach the root's stream wrapped ${CHAIN_LEAF} times`, async () => {
    const { prefix, front } = await deployment();
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix,
      agent: chainAgent(),
      concurrency: 1,
      maxDepth: CHAIN_LEAF,
      eventRetention: 100_000,
    });
    opened.workers.push(worker);
    await worker.start();
    await growChain(prefix, front);
  });

  it(`sprout worker --max-depth ${CHAIN_LEAF} does the same`, async () => {
    const { prefix, front } = await deployment();
    const worker = startCli([
      'worker',
      ...['--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--prefix', prefix, '--concurrency', '1'],
      ...['--max-depth', String(CHAIN_LEAF), '--agent-module', 'test/distributed/fixtures/chain-agent-module.ts'],
    ]);
    opened.processes.push(worker);
    await worker.waitForLine(/^worker .* ready/, 'stdout');
    await growChain(prefix, front);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});
