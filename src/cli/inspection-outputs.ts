import { createInspector, createWebSocketInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';
import { systemClock } from '../clock.js';
import { isInspectorNoise } from './inspector-noise.js';
import { startInspectorRelay, type InspectorRelay } from './inspector-relay.js';
import { createTraceWriter, type TraceWriter } from './trace-file.js';

/** Where `--inspect` and `--trace` send the scheduler's inspection events. */
export interface InspectionOutputs {
  /** Pass as `createSpawnScheduler({ inspect })`; undefined when neither flag is on. */
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  readonly relay: InspectorRelay | undefined;
  readonly trace: TraceWriter | undefined;
  /** Waits until every event so far reached the relay and the trace file (bounded wait). */
  flush(): Promise<void>;
  /** Disconnects the inspector, closes the relay and the trace file. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link createInspectionOutputs}. */
export interface InspectionOutputsOptions {
  /** Start the relay on this port (0: any free port). */
  inspectPort: number | undefined;
  /** Write the events to this file as JSON Lines. */
  traceFile: string | undefined;
  /** How long to wait for the inspector to connect to the relay. @default 5000 */
  connectTimeoutMs?: number;
}

const keep = (event: StatelyInspectionEvent): boolean => !isInspectorNoise(event);
const nextTick = (): Promise<void> =>
  new Promise((resolve) => {
    systemClock.setTimeout(resolve, 0);
  });

/**
 * Sets up `--inspect` and `--trace` before any actor exists: starts the loopback relay and
 * connects `@statelyai/inspect`'s `createWebSocketInspector` to it (waiting until it is
 * connected, so no actor registration is dropped), and opens the trace file behind a second
 * `createInspector` with the same conversion and the same noise filter, so the trace holds
 * exactly the events the inspector sees.
 *
 * @example
 * const outputs = await createInspectionOutputs({ inspectPort: 0, traceFile: 'run.jsonl' });
 * const scheduler = createSpawnScheduler({ store, agent, inspect: outputs.inspect });
 */
export async function createInspectionOutputs(options: InspectionOutputsOptions): Promise<InspectionOutputs> {
  const trace = options.traceFile === undefined ? undefined : createTraceWriter(options.traceFile);
  let relay: InspectorRelay | undefined;
  let sent = 0;
  let inspectors: { inspect: { next?: (event: InspectionEvent) => void }; stop(): void }[] = [];
  try {
    if (options.inspectPort !== undefined) {
      relay = await startInspectorRelay({ port: options.inspectPort });
      const socketInspector = createWebSocketInspector({
        url: relay.sourceUrl,
        maxDeferredEvents: 100_000,
        filter: (event) => {
          if (!keep(event)) return false;
          sent += 1;
          return true;
        },
      });
      inspectors.push(socketInspector);
      await relay.waitForSource(options.connectTimeoutMs ?? 5000);
    }
    if (trace) inspectors.push(createInspector({ send: (event) => trace.send(event) }, { filter: keep }));
  } catch (error) {
    for (const inspector of inspectors) inspector.stop();
    await relay?.close();
    trace?.close();
    throw error;
  }

  let closed = false;
  const flush = async (): Promise<void> => {
    // @statelyai/inspect converts each event in a setTimeout(0) callback: let those run first.
    await nextTick();
    await nextTick();
    if (relay) await relay.waitForReceived(sent, 2000);
  };
  return {
    inspect:
      inspectors.length === 0
        ? undefined
        : (event) => {
            for (const inspector of inspectors) inspector.inspect.next?.(event);
          },
    relay,
    trace,
    flush,
    async close() {
      if (closed) return;
      closed = true;
      await flush();
      for (const inspector of inspectors) inspector.stop();
      inspectors = [];
      await relay?.close();
      trace?.close();
    },
  };
}
