// Issue 21 item 4: any API caller picked the paid model — with `--provider`, `"model":
// "gpt-4-32k"` in a request reached the upstream on the operator's key. These pin the cost guard:
// `models` / `--models`, and `--model` alone with `--provider`.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../machines/session.schema.js';
import { modelAllowListAgent } from '../../src/server/model-allow-list-agent.js';
import { parseServeArgs } from '../../src/cli/serve-args.js';
import { api, createRoot, startTestServer, testAgent, type TestServer } from './support/test-server.js';

type Problem = { status: number; code: string; model?: string; allowed_models?: string[] };
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('cost guard: models a request may name', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('refuses any other model with 422 MODEL_NOT_ALLOWED on roots, child briefs and messages; allowed ones and the default pass; without models any model passes', async () => {
    t = await startTestServer({ server: { models: ['small-model', 'medium-model'], defaultModel: 'small-model' } });
    const paid = await api<Problem>(`${t.url}/v1/sessions`, { body: { title: 'Root', model: 'gpt-4-32k' } });
    expect(paid.status).toBe(422);
    expect(paid.headers.get('content-type')).toBe('application/problem+json');
    expect(paid.body).toMatchObject({ code: 'MODEL_NOT_ALLOWED', model: 'gpt-4-32k' });
    expect(paid.body.allowed_models).toEqual(expect.arrayContaining(['small-model', 'medium-model']));
    // Nothing was created.
    expect((await api<{ sessions: unknown[] }>(`${t.url}/v1/sessions`)).body.sessions).toEqual([]);

    const rootId = await createRoot(t.url);
    expect((await api<{ session: Session }>(`${t.url}/v1/sessions/${rootId}`)).body.session.model).toBe('small-model');
    const allowed = await api<{ session: Session }>(`${t.url}/v1/sessions`, { body: { title: 'Other', model: 'medium-model' } });
    expect(allowed.status).toBe(201);

    const child = await api<Problem>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Research', prompt: 'Find X', model: 'gpt-4-32k' },
    });
    expect(child.status).toBe(422);
    expect(child.body.code).toBe('MODEL_NOT_ALLOWED');
    const message = await api<Problem>(`${t.url}/v1/sessions/${rootId}/messages`, { body: { message: 'hi', model: 'gpt-4-32k' } });
    expect(message.status).toBe(422);
    expect(message.body.code).toBe('MODEL_NOT_ALLOWED');
    // No run was queued by the refused requests.
    expect((await api<{ sessions: unknown[] }>(`${t.url}/v1/sessions?parent=${rootId}`)).body.sessions).toEqual([]);

    const ok = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Research', prompt: 'Find X', model: 'medium-model' },
    });
    expect(ok.status).toBe(202);
    // A body the guard cannot read is still the route's to judge.
    expect((await api(`${t.url}/v1/sessions`, { body: '{"title":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await api(`${t.url}/v1/sessions`, { body: { title: 'x', model: 5 } })).status).toBe(422);

    // Without models (the library default, as before), any model is accepted.
    await t.close();
    t = await startTestServer();
    expect((await api(`${t.url}/v1/sessions`, { body: { title: 'Root', model: 'gpt-4-32k' } })).status).toBe(201);
  });

  it('modelAllowListAgent fails a run on another model before the agent runs (an agent’s own spawn_session, old sessions)', async () => {
    const models: string[] = [];
    const inner = testAgent();
    const agent = modelAllowListAgent(
      {
        execute: (session, request) => {
          models.push(request.model);
          return inner.execute(session, request);
        },
      },
      ['small-model'],
    );
    t = await startTestServer({ agent, server: { models: ['small-model'], defaultModel: 'small-model' } });
    const rootId = await createRoot(t.url);
    // Straight through the scheduler, as a tool call would: the HTTP guard never sees it.
    const sneaky = await t.scheduler.spawnChild(rootId, { title: 'Sneaky', prompt: 'p', model: 'gpt-4-32k' });
    const fine = await t.scheduler.spawnChild(rootId, { title: 'Fine', prompt: 'p' });
    const [failed, completed] = await t.scheduler.waitForChildren(rootId, {
      policy: 'all',
      childSessionIds: [sneaky.childSessionId, fine.childSessionId],
    });
    expect(failed).toMatchObject({ status: 'error' });
    expect(failed?.error).toMatch(/gpt-4-32k.*not allowed/);
    expect(completed).toMatchObject({ status: 'completed' });
    expect(models).toEqual(['small-model']);
  });

  it('--models a,b sets the allow-list; --provider without --models allows only --model', () => {
    expect(parseServeArgs(['--models', 'a, b'], {}).models).toEqual(['a', 'b']);
    expect(parseServeArgs([], {}).models).toBeUndefined();
    const provider = ['--provider', 'openai-compatible', '--base-url', 'http://127.0.0.1:9/v1', '--model', 'cheap'];
    expect(parseServeArgs(provider, {}).models).toEqual(['cheap']);
    expect(parseServeArgs([...provider, '--models', 'cheap,medium'], {}).models).toEqual(['cheap', 'medium']);
    expect(() => parseServeArgs(['--models', 'a,,b'], {})).toThrow(/--models/);
  });
});

/** A chat-completions server that records the model of every request and answers "Done.". */
async function fakeUpstream(): Promise<{ url: string; models: string[]; close(): void }> {
  const models: string[] = [];
  const chunk = (delta: object, finish: string | null): string =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (part: string) => (body += part));
    req.on('end', () => {
      models.push((JSON.parse(body) as { model: string }).model);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk({ role: 'assistant', content: 'Done.' }, null));
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, models, close: () => server.close() };
}

describe('sprout serve --provider (process): requests cannot override --model', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('a request naming gpt-4-32k gets 422 and never reaches the upstream; the default model does', async () => {
    const upstream = await fakeUpstream();
    cleanups.push(() => upstream.close());
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'serve',
        ...['--port', '0', '--db', ':memory:', '--provider', 'openai-compatible', '--base-url', upstream.url, '--model', 'cheap-model'],
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPROUT_API_KEY: 'operator-key' } },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (part: string) => (stderr += part));
    const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (part: string) => {
        stdout += part;
        const line = /^listening on (\S+)\n/.exec(stdout);
        if (line) resolve(line[1]!);
      });
      child.on('close', () => reject(new Error(`sprout serve exited: ${stderr}`)));
    });

    expect((await api<Problem>(`${url}/v1/sessions`, { body: { title: 'Root', model: 'gpt-4-32k' } })).body.code).toBe('MODEL_NOT_ALLOWED');
    const rootId = await createRoot(url);
    const paid = await api<Problem>(`${url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Expensive', prompt: 'Summarize', model: 'gpt-4-32k' },
    });
    expect(paid.status).toBe(422);
    expect(paid.body.code).toBe('MODEL_NOT_ALLOWED');
    const cheap = await api(`${url}/v1/sessions/${rootId}/children`, { body: { title: 'Cheap', prompt: 'Summarize' } });
    expect(cheap.status).toBe(202);
    const waited = await api<{ children: { status: string; result?: string }[] }>(`${url}/v1/sessions/${rootId}/wait`);
    expect(waited.body.children).toEqual([expect.objectContaining({ status: 'completed', result: 'Done.' })]);
    expect(upstream.models).toEqual(['cheap-model']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
