import { describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import { DEFAULT_DB_PATH, DEFAULT_INSPECT_PORT, parseCliArgs } from '../../src/cli/parse-args.js';

describe('parseCliArgs', () => {
  it('gives demo its defaults', () => {
    expect(parseCliArgs(['demo'])).toEqual({
      command: 'demo',
      children: 6,
      concurrency: 3,
      db: DEFAULT_DB_PATH,
      seed: undefined,
      fail: false,
      cancelAfterMs: undefined,
      inspectPort: undefined,
      trace: undefined,
      json: false,
    });
    expect(DEFAULT_DB_PATH).toBe('.sprout/sprout.db');
  });

  it('reads every demo flag', () => {
    expect(
      parseCliArgs([
        'demo',
        '--children',
        '4',
        '--concurrency=2',
        '--db',
        'x.db',
        '--seed',
        'abc',
        '--fail',
        '--cancel-after',
        '1500',
        '--inspect=9123',
        '--trace',
        't.jsonl',
        '--json',
      ]),
    ).toEqual({
      command: 'demo',
      children: 4,
      concurrency: 2,
      db: 'x.db',
      seed: 'abc',
      fail: true,
      cancelAfterMs: 1500,
      inspectPort: 9123,
      trace: 't.jsonl',
      json: true,
    });
  });

  it('takes --inspect with or without a port', () => {
    expect(parseCliArgs(['demo', '--inspect'])).toMatchObject({ inspectPort: DEFAULT_INSPECT_PORT, json: false });
    expect(parseCliArgs(['demo', '--inspect', '--json'])).toMatchObject({ inspectPort: DEFAULT_INSPECT_PORT, json: true });
    expect(parseCliArgs(['demo', '--inspect', '0'])).toMatchObject({ inspectPort: 0 });
    expect(parseCliArgs(['demo', '--inspect=4000'])).toMatchObject({ inspectPort: 4000 });
    expect(parseCliArgs(['trace-replay', 'run.jsonl'])).toEqual({
      command: 'trace-replay',
      file: 'run.jsonl',
      inspectPort: DEFAULT_INSPECT_PORT,
    });
  });

  it('reads status flags and help requests', () => {
    expect(parseCliArgs(['status', '--db', 'a.db', '--json', '--read-only'])).toEqual({
      command: 'status',
      db: 'a.db',
      json: true,
      readOnly: true,
    });
    expect(parseCliArgs([])).toEqual({ command: 'help', topic: undefined });
    expect(parseCliArgs(['help', 'status'])).toEqual({ command: 'help', topic: 'status' });
    expect(parseCliArgs(['demo', '--help'])).toEqual({ command: 'help', topic: 'demo' });
    expect(parseCliArgs(['--version'])).toEqual({ command: 'version' });
  });

  it.each([
    [['demo', '--children', '101'], 'sprout demo: --children must be an integer from 1 to 100 (got "101")'],
    [['demo', '--children', '2.5'], 'sprout demo: --children must be an integer from 1 to 100 (got "2.5")'],
    [['demo', '--seed', ''], 'sprout demo: --seed needs a non-empty value'],
    [['demo', '--db'], 'sprout demo: --db needs a value (see sprout demo --help)'],
    [['status', '--fail'], 'sprout status: unknown option --fail (see sprout status --help)'],
    [['status', 'now'], 'sprout status: unexpected argument "now" (see sprout status --help)'],
    [['help', 'nope'], 'unknown command "nope" (commands: demo, status, trace-replay, serve, worker, audit; see sprout --help)'],
    [
      ['--children', '3'],
      'expected a command before --children (commands: demo, status, trace-replay, serve, worker, audit; see sprout --help)',
    ],
  ])('refuses %j with a one-line CliUsageError', (args, message) => {
    let thrown: unknown;
    try {
      parseCliArgs(args);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CliUsageError);
    expect((thrown as Error).message).toBe(message);
  });
});
