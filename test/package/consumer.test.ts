// Does what a user does: packs the package, installs the tarball into a fresh "type": "module"
// app (offline, from the npm cache), typechecks the README's and the guides' code against it
// with skipLibCheck: false and exactOptionalPropertyTypes, runs the README's embedding example
// and the real-agent import, and runs the installed `sprout` bin. One app is built once for the
// whole file; every step waits for its command to end (no timing assumptions), and the temp
// folder is removed at the end.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consumerTsconfig,
  createConsumerApp,
  npmInstall,
  PACKAGE_NAME,
  packPackage,
  removeDir,
  repoVersionOf,
  runOk,
  tempWorkDir,
  typecheck,
  type PackReport,
} from './consumer-app.js';
import { blockFileName, blockPrelude, packageDocBlocks, type DocBlock } from './doc-blocks.js';

const MINUTE = 60_000;
let work = '';
let app = '';
let pack: PackReport;
let installed = '';

beforeAll(async () => {
  work = tempWorkDir();
  app = join(work, 'app');
  const packed = await packPackage(work);
  pack = packed.report;
  await createConsumerApp(app, packed.tarball);
  installed = join(app, 'node_modules', ...PACKAGE_NAME.split('/'));
}, 20 * MINUTE);

afterAll(() => {
  if (work) removeDir(work);
});

const write = (name: string, text: string): void => {
  mkdirSync(join(app, name, '..'), { recursive: true });
  writeFileSync(join(app, name), text);
};

/** A script that starts a chat-completions SSE server on 127.0.0.1, for the real-agent run. */
const FAKE_SERVER = `import { createServer } from 'node:http';
export function startFakeOpenAI(answer: string): Promise<{ url: string; close(): void }> {
  const chunk = (delta: object, finish: string | null): string =>
    \`data: \${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\\n\\n\`;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk({ role: 'assistant', content: answer }, null));
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\\n\\n');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    resolve({ url: \`http://127.0.0.1:\${port}/v1\`, close: () => server.close() });
  }));
}
`;

const ROOT_SESSION = `const now = new Date().toISOString();
await store.save({ id: 'root', title: 'Parent', kind: 'root', root_session_id: 'root', spawn_depth: 0, model: 'test-model', messages: [], metadata: {}, created_at: now, updated_at: now });`;

/** Runs the real agent without `ai` installed: it must reject with MissingPeerDependencyError. */
const NO_PEERS = `import { AgentProviderError, MissingPeerDependencyError, openAICompatibleAgent, aiSdkAgent } from '${PACKAGE_NAME}';
const agent = openAICompatibleAgent({ baseURL: 'http://127.0.0.1:9/v1', apiKey: process.env.SPROUT_TEST_UNSET_KEY });
void aiSdkAgent; void AgentProviderError;
const now = new Date().toISOString();
try {
  await agent.execute(
    { id: 'c', title: 'c', kind: 'child', parent_session_id: 'p', root_session_id: 'p', spawn_depth: 1, model: 'm', messages: [{ id: 'u', role: 'user', content: 'hi', created_at: now }], metadata: {}, created_at: now, updated_at: now },
    { model: 'm', signal: new AbortController().signal, emit: () => undefined },
  );
  console.log('no error');
} catch (error) {
  console.log(error instanceof MissingPeerDependencyError ? \`missing \${error.code} \${error.packageName}\` : String(error));
}
`;

/** A child on a local chat-completions server through openAICompatibleAgent. */
const REAL_AGENT = `import { createSpawnScheduler, MemorySessionStore, openAICompatibleAgent } from '${PACKAGE_NAME}';
import { startFakeOpenAI } from './fake-openai.js';
const server = await startFakeOpenAI('Four.');
const store = new MemorySessionStore();
${ROOT_SESSION}
const agent = openAICompatibleAgent({ baseURL: server.url, apiKey: process.env.OPENAI_API_KEY });
const scheduler = createSpawnScheduler({ store, agent });
await scheduler.start();
await scheduler.spawnChild('root', { title: 'Sum', prompt: 'Add 2 and 2' });
const [summary] = await scheduler.waitForChildren('root');
await scheduler.stop();
server.close();
console.log(JSON.stringify(summary));
`;

/** Uses every export of both entries, as values and as types, so their declarations are all checked. */
const apiSurface = (name: string): string => `import * as sprout from '${name}';
import * as testing from '${name}/testing';
import type {
  AgentEvent, AgentEventOf, AgentRuntime, ChildRunSummary, ChildStatus, EnqueueResult, EventLog, ExecuteRequest,
  Message, RecoveryReport, SchedulerDiagnostic, Session, SessionEventEnvelope, SessionStore, SpawnBrief,
  SpawnJob, SpawnScheduler, SpawnSchedulerOptions, SqliteSessionStoreOptions, Usage, WaitForChildrenOptions,
  AiSdkAgentOptions, OpenAICompatibleAgentOptions,
} from '${name}';
import type { ScriptStep, TraceRecorder } from '${name}/testing';

export const values: unknown[] = [...Object.values(sprout), ...Object.values(testing)];
export type All = [AgentEvent, AgentEventOf<'token'>, AgentRuntime, ChildRunSummary, ChildStatus, EnqueueResult, EventLog, ExecuteRequest,
  Message, RecoveryReport, SchedulerDiagnostic, Session, SessionEventEnvelope, SessionStore, SpawnBrief, SpawnJob, SpawnScheduler,
  SpawnSchedulerOptions, SqliteSessionStoreOptions, Usage, WaitForChildrenOptions, AiSdkAgentOptions, OpenAICompatibleAgentOptions,
  ScriptStep, TraceRecorder];
// Optional options take an explicit undefined under exactOptionalPropertyTypes (e.g. an unset env var).
export const options: OpenAICompatibleAgentOptions = { baseURL: 'http://127.0.0.1:1/v1', apiKey: process.env.UNSET_KEY, defaultModel: undefined };
export const scheduler: SpawnScheduler = sprout.createSpawnScheduler({ store: new sprout.MemorySessionStore(), agent: testing.scriptedAgent({ answer: 'x' }), maxRunMs: undefined });
`;

describe(`the packed ${PACKAGE_NAME}`, () => {
  it('ships the compiled code, the bin, the docs and the licence, and no sources, tests or source maps', () => {
    const paths = pack.files.map((file) => file.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
        'bin/sprout.js',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/src/testing/index.js',
        'dist/src/testing/index.d.ts',
        'dist/src/cli/main.js',
      ]),
    );
    expect(
      paths.filter(
        (path) =>
          /^(src|test|bench|examples|machines)\//.test(path) || path.endsWith('.map') || (path.endsWith('.ts') && !path.endsWith('.d.ts')),
      ),
    ).toEqual([]);
  });

  it('installs with production dependencies only: no TypeScript loader, no test tools, no optional peers', () => {
    for (const devOnly of ['tsx', 'vitest', 'eslint', 'ai', '@ai-sdk/openai-compatible'])
      expect(existsSync(join(app, 'node_modules', devOnly)), devOnly).toBe(false);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      exports: Record<string, unknown>;
    };
    expect(manifest.bin).toEqual({ sprout: 'bin/sprout.js' });
    expect(Object.keys(manifest.exports)).toEqual(['.', './testing', './server', './postgres', './distributed', './package.json']);
    // Distributed mode's drivers are production dependencies (only loaded through its subpaths).
    for (const driver of ['pg', 'bullmq', 'ioredis']) expect(existsSync(join(app, 'node_modules', driver)), driver).toBe(true);
  });

  it(
    "typechecks the whole public API and the README's embedding example without the optional peers (lib ES2023, skipLibCheck: false, exactOptionalPropertyTypes), then runs the example",
    async () => {
      const embedding = packageDocBlocks(installed).find((block: DocBlock) => block.file === 'README.md' && block.heading === 'Embedding');
      expect(embedding, 'README has a ts block under "## Embedding"').toBeDefined();
      write('embedding.ts', `${embedding?.code ?? ''}\nconsole.log(JSON.stringify({ summary, childSessionId, runId }));\n`);
      write('api-surface.ts', apiSurface(PACKAGE_NAME));
      write('no-peers.ts', NO_PEERS);
      // One tsc run for the three files (the machine may be slow; each run costs tens of seconds).
      write('tsconfig.api.json', consumerTsconfig(['api-surface.ts', 'embedding.ts', 'no-peers.ts']));
      const checked = await typecheck(app, 'tsconfig.api.json');
      expect(checked.errors).toEqual([]);
      await expectOnlyTheirOwnErrors(checked.thirdParty, ['xstate']);

      const result = await runOk(process.execPath, ['out/embedding.js'], app);
      const last = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { summary?: { status?: string; result?: string } };
      expect(last.summary).toMatchObject({ status: 'completed', result: 'Three sources found.' });
      expect(result.stdout).toContain('sub_session_started');
    },
    10 * MINUTE,
  );

  it(
    'imports the real agents without the optional peers: the first run rejects with MissingPeerDependencyError',
    async () => {
      // Compiled with the public API above (tsconfig.api.json).
      const result = await runOk(process.execPath, ['out/no-peers.js'], app);
      expect(result.stdout.trim()).toMatch(/^missing MISSING_PEER_DEPENDENCY (ai|@ai-sdk\/openai-compatible)$/);
    },
    5 * MINUTE,
  );

  it(
    'with ai, @ai-sdk/openai-compatible and vitest installed, typechecks every TypeScript block of the README and the guides (and the real-agent app)',
    async () => {
      await npmInstall(app, [
        `ai@${repoVersionOf('ai')}`,
        `@ai-sdk/openai-compatible@${repoVersionOf('@ai-sdk/openai-compatible')}`,
        `vitest@${repoVersionOf('vitest')}`,
      ]);
      const blocks = packageDocBlocks(installed);
      expect([...new Set(blocks.map((block) => block.file))]).toEqual(
        expect.arrayContaining([
          'README.md',
          'docs/guides/cli.md',
          'docs/guides/getting-started.md',
          'docs/guides/real-agents.md',
          'docs/guides/testing.md',
        ]),
      );
      write('blocks/globals.d.ts', blockPrelude(PACKAGE_NAME));
      for (const block of blocks) write(`blocks/${blockFileName(block)}`, `${block.code}\n\nexport {};\n`);
      write('fake-openai.ts', FAKE_SERVER);
      write('real-agent.ts', REAL_AGENT);
      // One tsc run for the blocks and the real-agent app of the next test.
      write('tsconfig.docs.json', consumerTsconfig(['blocks/**/*.ts', 'real-agent.ts', 'fake-openai.ts'], { dom: true }));
      const checked = await typecheck(app, 'tsconfig.docs.json');
      expect(checked.errors).toEqual([]);
      await expectOnlyTheirOwnErrors(checked.thirdParty, ['xstate', 'ai', '@ai-sdk/openai-compatible'], { dom: true });
    },
    10 * MINUTE,
  );

  it(
    'runs a child on an OpenAI-compatible server through openAICompatibleAgent',
    async () => {
      // Compiled with the doc blocks above (tsconfig.docs.json).
      const result = await runOk(process.execPath, ['out/real-agent.js'], app);
      expect(JSON.parse(result.stdout.trim())).toMatchObject({ status: 'completed', result: 'Four.' });
    },
    5 * MINUTE,
  );

  it(
    'runs the installed bin: `npx sprout --version` and `npx sprout demo --json` (wire events on stdout, one completion per child)',
    async () => {
      const version = await runOk('npx', ['--offline', '--no-install', 'sprout', '--version'], app);
      expect(version.stdout.trim()).toBe(
        `sprout ${(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version}`,
      );
      const demo = await runOk(
        'npx',
        ['--offline', '--no-install', 'sprout', 'demo', '--json', '--children', '3', '--seed', '7', '--db', join(work, 'demo.db')],
        app,
      );
      const envelopes = demo.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { seq: number; event: { type: string; run_id?: string } });
      expect(envelopes.map((envelope) => envelope.seq)).toEqual(envelopes.map((_, i) => i + 1));
      const completions = envelopes.filter((envelope) => envelope.event.type === 'sub_session_completed');
      expect(completions).toHaveLength(3);
      expect(new Set(completions.map((envelope) => envelope.event.run_id)).size).toBe(3);
    },
    5 * MINUTE,
  );
});

/**
 * Errors inside other packages' declarations must be those packages' own: a program that imports
 * nothing but them (under the same settings) reports every one of these lines.
 */
async function expectOnlyTheirOwnErrors(thirdParty: readonly string[], packages: readonly string[], { dom = false } = {}): Promise<void> {
  if (thirdParty.length === 0) return;
  const name = `control-${dom ? 'dom' : 'es'}`;
  write(
    `${name}.ts`,
    `${packages.map((pkg, i) => `import type * as m${i} from '${pkg}';\nexport type T${i} = typeof m${i};`).join('\n')}\n`,
  );
  write(`tsconfig.${name}.json`, consumerTsconfig([`${name}.ts`], { dom }));
  const control = await typecheck(app, `tsconfig.${name}.json`);
  expect(control.errors).toEqual([]);
  expect(thirdParty.filter((line) => !control.thirdParty.includes(line))).toEqual([]);
}
