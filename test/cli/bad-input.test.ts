import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './cli-process.js';

const dir = tempDir();
const notADatabase = join(dir, 'notes.txt');
writeFileSync(notADatabase, 'these are not the droids\n');

const cases: [string[], RegExp][] = [
  [['demo', '--children', 'lots'], /^sprout demo: --children must be an integer from 1 to 100 \(got "lots"\)$/],
  [['demo', '--children', '0'], /--children must be an integer from 1 to 100/],
  // Bug pinned: a negative number said "needs a value" (util.parseArgs read it as an option).
  [['demo', '--concurrency', '-3'], /^sprout demo: --concurrency must be an integer from 1 to 64 \(got "-3"\)$/],
  [['demo', '--children', '-1'], /^sprout demo: --children must be an integer from 1 to 100 \(got "-1"\)$/],
  [['demo', '--cancel-after', '-5'], /^sprout demo: --cancel-after must be an integer from 0 to 600000 \(got "-5"\)$/],
  [['demo', '--cancel-after', '1.5s'], /--cancel-after must be an integer/],
  [['demo', '--inspect=http'], /--inspect must be a port from 0 to 65535 \(got "http"\)/],
  [['demo', '--frobnicate'], /^sprout demo: unknown option --frobnicate \(see sprout demo --help\)$/],
  [['demo', '--json=yes'], /--json takes no value/],
  [['demo', 'now'], /unexpected argument "now"/],
  [['demo', '--children', '1', '--fail', '--cancel-after', '10'], /need --children 2 or more/],
  [['launch'], /^sprout: unknown command "launch"/],
  [['demo', '--db', notADatabase], /is not a usable Sprout database: .*file is not a database/],
  [['demo', '--db', dir], /is a directory, not a database file/],
  [['status', '--db', join(dir, 'missing.db')], /no database at .*missing\.db/],
  [['status', '--db', notADatabase], /is not a usable Sprout database/],
  [['demo', '--trace', join(dir, 'no', 'such', 'dir', 'trace.jsonl'), '--db', join(dir, 'ok.db')], /cannot write trace file/],
  [['trace-replay'], /missing the trace FILE/],
  [['trace-replay', notADatabase, '--inspect=0'], /notes\.txt:1: not JSON/],
];

describe.concurrent('bad flags and bad files', () => {
  it.each(cases)('sprout %j exits 2 with one clear line on stderr', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('leaves a file that is not a database untouched', async () => {
    await runCli(['status', '--db', notADatabase]);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(notADatabase, 'utf8')).toBe('these are not the droids\n');
  });
});
