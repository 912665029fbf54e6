import { MemoryEventLog } from './adapters/memory/memory-event-log.js';
import { assembleSpawnScheduler } from './scheduler/assemble-spawn-scheduler.js';
import type { SpawnScheduler } from './api/spawn-scheduler.js';
import type { SpawnSchedulerOptions } from './api/spawn-scheduler-options.js';

export type { SpawnScheduler } from './api/spawn-scheduler.js';
export type { EnqueueResult, WaitForChildrenOptions } from './api/scheduler-types.js';

/**
 * Creates a spawn scheduler: an XState scheduler actor that spawns one job actor per child run,
 * with the child's events streamed to the parent as RxJS Observables. Nothing runs until
 * `start()`. The composition root: the only place that picks default adapters (events in memory
 * unless the `eventLog` option or the store's own `openEventLog` gives a log).
 *
 * @example
 * const scheduler = createSpawnScheduler({ store: new MemorySessionStore(), agent: scriptedAgent({ script: [{ tokens: 'hi' }] }) });
 * await scheduler.start();
 * scheduler.events('root').subscribe(({ event }) => console.log(event.type));
 * const { childSessionId } = await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find X' });
 * console.log(await scheduler.waitForChildren('root'));
 */
export function createSpawnScheduler(options: SpawnSchedulerOptions): SpawnScheduler {
  return assembleSpawnScheduler(options, { eventLog: (retention) => new MemoryEventLog({ retention }) });
}
