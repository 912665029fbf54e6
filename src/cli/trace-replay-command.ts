import { EXIT } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { startInspectorRelay } from './inspector-relay.js';
import type { TraceReplayOptions } from './parse-args.js';
import { readTraceFile } from './trace-file.js';

/**
 * `sprout trace-replay FILE [--inspect[=PORT]]`: loads a `--trace` file into a fresh inspector
 * relay, so every viewer that connects (the bridge page with the Stately inspector, or a
 * `createWebSocketReceiver`) gets the recorded events in order. Serves until Ctrl+C / SIGTERM.
 *
 * @example
 * await runTraceReplay({ command: 'trace-replay', file: 'run.jsonl', inspectPort: 8080 }, processIo());
 */
export async function runTraceReplay(options: TraceReplayOptions, io: CliIo): Promise<number> {
  const events = readTraceFile(options.file);
  const relay = await startInspectorRelay({ port: options.inspectPort, bufferLimit: Number.MAX_SAFE_INTEGER });
  try {
    for (const event of events) relay.publish(JSON.stringify(event));
    const actors = events.filter((event) => event.type === '@xstate.actor').length;
    io.stdout.write(`replaying ${events.length} inspection events (${actors} actors) from ${options.file}\n`);
    io.stdout.write(`inspector: open ${relay.pageUrl} in a browser (the page embeds the Stately inspector, loaded from stately.ai)\n`);
    io.stdout.write(`           receivers connect to ${relay.wsUrl} · Ctrl+C to stop\n`);
    await new Promise<void>((resolve) => {
      const off = io.onInterrupt(() => {
        off();
        resolve();
      });
    });
    return EXIT.ok;
  } finally {
    await relay.close();
  }
}
