import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openSse } from './support/sse-parser.js';
import { api, createRoot, tempDir } from './support/test-server.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `sprout serve` from the sources (as `npm start` runs the CLI) and collects its output. */
function startServe(args: readonly string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const watch of [...watchers]) watch();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const firstLine = new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const end = stdout.indexOf('\n');
      if (end >= 0) {
        watchers.delete(check);
        resolve(stdout.slice(0, end));
      }
    };
    watchers.add(check);
    void exited.then(() => reject(new Error(`sprout serve exited before listening: ${stderr}`)));
  });
  return { child, firstLine, exited, stderr: () => stderr };
}

describe('sprout serve (process)', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('prints "listening on http://HOST:PORT" first; SIGTERM drains: running runs finish, queued ones end, clients get their last events, exit 0', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const serve = startServe(['--port', '0', '--db', tmp.file('serve.db'), '--concurrency', '1']);
    cleanups.push(() => {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    });
    const line = await serve.firstLine;
    expect(line).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    const url = line.slice('listening on '.length);
    const rootId = await createRoot(url);
    const stream = await openSse(`${url}/v1/sessions/${rootId}/events`);
    cleanups.push(() => stream.close());
    const running = await api<{ childSessionId: string }>(`${url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Survey', prompt: 'Find sources' },
    });
    const queued = await api<{ childSessionId: string }>(`${url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Later', prompt: 'Wait your turn' },
    });
    await stream.until((parse) => parse.frames.some((frame) => frame.event === 'sub_session_heartbeat'));
    serve.child.kill('SIGTERM');
    const parsed = await stream.ended;
    const completions = parsed.frames
      .filter((frame) => frame.event === 'sub_session_completed')
      .map((frame) => JSON.parse(frame.data) as { child_session_id: string; status: string; reason?: string });
    expect(completions).toHaveLength(2);
    expect(completions.find((event) => event.child_session_id === running.body.childSessionId)).toMatchObject({ status: 'completed' });
    expect(completions.find((event) => event.child_session_id === queued.body.childSessionId)).toMatchObject({
      status: 'cancelled',
      reason: 'shutdown',
    });
    expect(parsed.frames.at(-1)?.event).toBe('sub_session_completed');
    expect(await serve.exited).toBe(0);
  });

  it('serve --help describes the flags', async () => {
    const serve = startServe(['--help']);
    expect(await serve.firstLine).toMatch(/^sprout serve:/);
    expect(await serve.exited).toBe(0);
  });
});
