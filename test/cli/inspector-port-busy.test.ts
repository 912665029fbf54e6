import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDb, tempDir } from './cli-process.js';

/** Holds a loopback port for the test, as another program would. */
async function occupyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, server };
}

let held: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
  held = undefined;
});

// Bug pinned: on a busy port the relay's friendly message never reached the user: ws re-emitted
// the listen error as an uncaught exception (raw `listen EADDRINUSE …`, exit 1).
describe('--inspect on a port that is in use', () => {
  it('sprout demo prints one line naming the port and exits 2', async () => {
    const { port, server } = await occupyPort();
    held = server;
    const result = await runCli(['demo', '--json', '--children', '1', '--inspect', String(port), '--db', tempDb()]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `sprout: inspector port ${port} on 127.0.0.1 is in use; pick another with --inspect=PORT (0 picks a free one)`,
    );
  });

  it('sprout trace-replay prints the same line and exits 2', async () => {
    const dir = tempDir();
    const trace = join(dir, 'run.trace.jsonl');
    const demo = await runCli(['demo', '--json', '--children', '1', '--seed', 'busy', '--trace', trace, '--db', join(dir, 'sprout.db')]);
    expect(demo.code).toBe(0);
    const { port, server } = await occupyPort();
    held = server;
    const result = await runCli(['trace-replay', trace, '--inspect', String(port)]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `sprout: inspector port ${port} on 127.0.0.1 is in use; pick another with --inspect=PORT (0 picks a free one)`,
    );
  });
});
