import type { Session } from '../../machines/session.schema.js';
import type { AgentRuntime, ExecuteRequest } from '../../src/api/ports.js';
import type { SimulatedClock } from 'xstate';

/** How many children the session at `path` spawns (path: `''` for the root, `'0'`, `'0.1'`, …). */
export type TreeShape = (path: string) => number;

/** What a tree agent saw, for assertions. */
export interface TreeAgentLog {
  /** Agents executing and not waiting for their children, now. */
  working: number;
  /** The most that ever were at once. */
  maxWorking: number;
  /** Paths whose agent started, in order. */
  started: string[];
  /** Paths whose agent finished its answer. */
  answered: string[];
  /** Sessions whose agent saw its abort signal. */
  aborted: string[];
}

/** The tree path a session stands for: its title after `node `, or `''` for the root. */
export function pathOf(session: Session): string {
  return session.kind === 'root' ? '' : session.title.replace(/^node /, '');
}

/**
 * An agent that grows a tree like a real parent agent: it works a little (a token per step on the
 * simulated clock), spawns the children its shape says through `request.spawner` (what the
 * `spawn_session` tool does), waits for them (`wait_children`), then answers with their answers.
 * It counts how many agents work at once (not counting those waiting for their children).
 */
export function treeAgent(
  clockOf: () => SimulatedClock,
  shape: TreeShape,
  options: { workMs?: number } = {},
): AgentRuntime & { log: TreeAgentLog } {
  const workMs = options.workMs ?? 100;
  const log: TreeAgentLog = { working: 0, maxWorking: 0, started: [], answered: [], aborted: [] };
  const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('aborted'));
        return;
      }
      const clock = clockOf();
      const timer = clock.setTimeout(() => resolve(), ms);
      signal.addEventListener('abort', () => {
        clock.clearTimeout(timer);
        reject(new Error('aborted'));
      });
    });
  const work = (): void => {
    log.working += 1;
    log.maxWorking = Math.max(log.maxWorking, log.working);
  };
  return {
    log,
    async execute(session: Session, request: ExecuteRequest): Promise<void> {
      const path = pathOf(session);
      const spawner = request.spawner;
      if (spawner === undefined) throw new Error('no spawner: the scheduler must pass one');
      request.signal.addEventListener('abort', () => log.aborted.push(path));
      log.started.push(path);
      work();
      try {
        await sleep(workMs, request.signal);
        request.emit({ type: 'token', content: `${path || 'root'} thinks ` });
        const kids = shape(path);
        for (let i = 0; i < kids; i++) {
          // A spawn may wait for queue room, giving the slot back meanwhile: not working either.
          log.working -= 1;
          try {
            await spawner.spawnChild(session.id, { title: `node ${path === '' ? `${i}` : `${path}.${i}`}`, prompt: `part ${i}` });
          } finally {
            work();
          }
        }
        let answers: string[] = [];
        if (kids > 0) {
          log.working -= 1;
          try {
            const summaries = await spawner.waitForChildren(session.id);
            answers = summaries.map((s) => s.result ?? s.status);
          } finally {
            work();
          }
          if (request.signal.aborted) throw new Error('aborted');
        }
        await sleep(workMs, request.signal);
        const answer = `answer of ${path || 'root'}${answers.length > 0 ? ` [${answers.join(', ')}]` : ''}`;
        request.emit({ type: 'token', content: answer });
        request.emit({ type: 'complete', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
        session.messages.push({
          id: `${session.id}-a-${session.messages.length}`,
          role: 'assistant',
          content: answer,
          created_at: '2026-01-01T00:00:00.000Z',
        });
        log.answered.push(path);
      } finally {
        log.working -= 1;
      }
    },
  };
}

/** A fixed shape from a nested list of fan-outs: `tree([[], [[]]])` = a root with two children, the second with one child. */
export interface TreeNode {
  children: TreeNode[];
}

/** The shape of a tree given as nodes. */
export function shapeOf(root: TreeNode): TreeShape {
  return (path) => {
    let node: TreeNode | undefined = root;
    if (path !== '') for (const part of path.split('.')) node = node?.children[Number(part)];
    return node?.children.length ?? 0;
  };
}

/** Number of nodes of a tree. */
export function sizeOf(node: TreeNode): number {
  return 1 + node.children.reduce((sum, child) => sum + sizeOf(child), 0);
}

/** A full tree: every node down to `depth` has `fanout` children. */
export function fullTree(depth: number, fanout: number): TreeNode {
  return { children: depth === 0 ? [] : Array.from({ length: fanout }, () => fullTree(depth - 1, fanout)) };
}
