import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema } from '../support/postgres.js';
import { runCli } from './cli-process.js';

// The worker may migrate its schema before it finds Redis away: each case gets its own, dropped after.
const schemas: { drop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const schema of schemas.splice(0)) await schema.drop();
});

describe('sprout worker with a service away', () => {
  // Both are a setting to fix: the same exit code (2) and one line, whichever service it is.
  it.each([
    ['Redis', ['--redis', 'redis://127.0.0.1:1', '--postgres', 'postgres://root@127.0.0.1:5432/postgres'], /^sprout worker: Redis: /],
    [
      'PostgreSQL',
      ['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://root@127.0.0.1:1/postgres'],
      /^sprout worker: PostgreSQL /,
    ],
  ])('%s unreachable: one line on stderr, exit 2', async (_name, flags, line) => {
    const schema = createTestSchema();
    schemas.push(schema);
    const result = await runCli(['worker', ...flags, '--prefix', schema.name]);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });
});
