import type { DemoView, TextOut } from './demo-view.js';

/**
 * `--json`: one wire envelope `{ seq, sessionId, event }` per line on stdout, exactly as
 * `scheduler.events()` delivers it; notes go to stderr so stdout stays parseable.
 *
 * @example
 * const view = createJsonView(process.stdout, process.stderr);
 */
export function createJsonView(stdout: TextOut, stderr: TextOut): DemoView {
  return {
    note: (text) => stderr.write(`${text}\n`),
    onEnvelope: (envelope) => stdout.write(`${JSON.stringify(envelope)}\n`),
    start: () => {},
    finish: () => Promise.resolve(),
  };
}
