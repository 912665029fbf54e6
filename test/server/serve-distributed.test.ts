import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable } from '../distributed/support.js';
import { openSse } from './support/sse-parser.js';
import { api, createRoot } from './support/test-server.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const unavailable = await servicesUnavailable();

/** Starts a `sprout` command from the sources and resolves its first stdout line. */
function startCli(args: readonly string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const end = stdout.indexOf('\n');
      if (end >= 0) resolve(stdout.slice(0, end));
    });
    void exited.then(() => reject(new Error(`sprout ${args[0]} exited early: ${stderr}`)));
  });
  return { child, firstLine, exited, stderr: () => stderr };
}

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')(
  'sprout serve --redis --postgres (the front door) with a sprout worker',
  () => {
    const cleanups: (() => unknown)[] = [];
    afterEach(async () => {
      for (const step of cleanups.splice(0).reverse()) await step();
    });
    const kill = (child: ChildProcess) => () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };

    it('children created through the API run on the worker; the server streams their events from PostgreSQL; both drain on SIGTERM', async () => {
      const deployment = createTestDeployment();
      cleanups.push(() => deployment.cleanup());
      const services = ['--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--prefix', deployment.prefix];
      const serve = startCli(['serve', '--port', '0', ...services]);
      cleanups.push(kill(serve.child));
      const line = await serve.firstLine;
      expect(line).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      const url = line.slice('listening on '.length);
      const worker = startCli(['worker', ...services, '--concurrency', '2']);
      cleanups.push(kill(worker.child));
      await worker.firstLine;

      const rootId = await createRoot(url);
      const stream = await openSse(`${url}/v1/sessions/${rootId}/events`);
      cleanups.push(() => stream.close());
      const children: string[] = [];
      for (const title of ['One', 'Two', 'Three']) {
        const created = await api<{ childSessionId: string; runId: string }>(`${url}/v1/sessions/${rootId}/children`, {
          body: { title, prompt: `Do ${title}` },
        });
        expect(created.status).toBe(202);
        children.push(created.body.childSessionId);
      }
      await stream.until((parse) => parse.frames.filter((frame) => frame.event === 'sub_session_completed').length === 3);
      const events = stream
        .parsed()
        .frames.map((frame) => ({ event: frame.event, data: JSON.parse(frame.data) as { child_session_id?: string } }));
      for (const child of children) {
        const mine = events.filter((entry) => entry.data.child_session_id === child).map((entry) => entry.event);
        expect(mine.filter((type) => type === 'sub_session_started')).toHaveLength(1);
        expect(mine.filter((type) => type === 'sub_session_completed')).toHaveLength(1);
        expect(mine.at(-1)).toBe('sub_session_completed');
      }
      const status = await api<{ status: { status: string } }>(`${url}/v1/sessions/${children[0]}/status`);
      expect(status.status).toBe(200);
      expect(status.body.status).toMatchObject({ status: 'completed' });

      // The JSON page of the parent's events comes from PostgreSQL too.
      const page = await api<{ events: { seq: number; event: { type: string } }[] }>(
        `${url}/v1/sessions/${rootId}/events?after=0&limit=500`,
      );
      expect(page.status).toBe(200);
      expect(page.body.events.map((entry) => entry.seq)).toEqual(page.body.events.map((_, index) => index + 1));
      expect(page.body.events.filter((entry) => entry.event.type === 'sub_session_completed')).toHaveLength(3);

      serve.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
      expect(await worker.exited).toBe(0);
    });

    it('refuses half a distributed configuration with a one-line usage error', async () => {
      const serve = startCli(['serve', '--redis', REDIS_URL]);
      await expect(serve.firstLine).rejects.toThrow(/needs both --redis URL and --postgres URL/);
      expect(await serve.exited).toBe(2);
    });
  },
);
