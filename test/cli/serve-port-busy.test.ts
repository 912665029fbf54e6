import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

let blocker: Server | undefined;
afterEach(() => {
  blocker?.close();
  blocker = undefined;
});

describe('sprout serve on a busy port', () => {
  it('prints one line naming the port and exits 2 (not Node’s bare EADDRINUSE)', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) => {
      blocker?.listen(0, '127.0.0.1', () => resolve((blocker?.address() as { port: number }).port));
    });
    const result = await runCli(['serve', '--port', String(port), '--db', ':memory:']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `sprout serve: port 127.0.0.1:${port} is already in use (another sprout serve?); pick another with --port`,
    ]);
    expect(result.stdout).toBe('');
  });
});
