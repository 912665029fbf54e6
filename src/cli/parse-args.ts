import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliUsageError } from './cli-error.js';
import { describeParseError } from './command-flags.js';

/** Where `demo` and `status` keep their SQLite file unless `--db` says otherwise. */
export const DEFAULT_DB_PATH = '.sprout/sprout.db';
/** Port of the inspector relay for a bare `--inspect` (the default of `createWebSocketInspector`). */
export const DEFAULT_INSPECT_PORT = 8080;

/** `sprout demo …` */
export interface DemoOptions {
  command: 'demo';
  /** @default 6 */
  children: number;
  /** @default 3 */
  concurrency: number;
  /** @default DEFAULT_DB_PATH */
  db: string;
  /** Same seed, same run. Undefined: the demo picks one and prints it. */
  seed: string | undefined;
  /** One child fails. */
  fail: boolean;
  /** Cancel one child this many ms after the children were spawned. */
  cancelAfterMs: number | undefined;
  /** Serve the inspector relay on this port (0: any free port). */
  inspectPort: number | undefined;
  /** Write the inspection events to this file as JSON Lines. */
  trace: string | undefined;
  /** One wire envelope per line on stdout. */
  json: boolean;
  /** Run the children on a real model instead of the scripted agent. */
  provider: ProviderOptions | undefined;
}

/** `--provider openai-compatible --base-url URL --model NAME` (API key from `SPROUT_API_KEY`). */
export interface ProviderOptions {
  kind: 'openai-compatible';
  baseURL: string;
  model: string;
}

/** Providers `--provider` accepts. */
export const PROVIDERS = ['openai-compatible'] as const;

/** `sprout status …` */
export interface StatusOptions {
  command: 'status';
  db: string;
  json: boolean;
  /** Do not reconcile runs a killed process left behind. */
  readOnly: boolean;
}

/** `sprout trace-replay FILE …` */
export interface TraceReplayOptions {
  command: 'trace-replay';
  file: string;
  inspectPort: number;
}

/** `sprout help [command]`, `--help`, or no command at all. */
export interface HelpRequest {
  command: 'help';
  topic: CommandName | undefined;
}

/** `sprout --version` */
export interface VersionRequest {
  command: 'version';
}

/** What the command line asked for. */
export type CliRequest = DemoOptions | StatusOptions | TraceReplayOptions | HelpRequest | VersionRequest;

/** The commands `sprout` knows. */
export const COMMANDS = ['demo', 'status', 'trace-replay'] as const;
/** Every command, those with parsers of their own (`serve`, `worker`, `audit`) too: what errors list. */
export const ALL_COMMANDS = [...COMMANDS, 'serve', 'worker', 'audit'] as const;
/** A command name. */
export type CommandName = (typeof COMMANDS)[number];

const isCommand = (value: string | undefined): value is CommandName => (COMMANDS as readonly string[]).includes(value ?? '');

type Options = NonNullable<ParseArgsConfig['options']>;
const help: Options = { help: { type: 'boolean', short: 'h' } };
const commandOptions: Record<CommandName, Options> = {
  demo: {
    ...help,
    children: { type: 'string' },
    concurrency: { type: 'string' },
    db: { type: 'string' },
    seed: { type: 'string' },
    fail: { type: 'boolean' },
    'cancel-after': { type: 'string' },
    inspect: { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
    provider: { type: 'string' },
    'base-url': { type: 'string' },
    model: { type: 'string' },
  },
  status: { ...help, db: { type: 'string' }, json: { type: 'boolean' }, 'read-only': { type: 'boolean' } },
  'trace-replay': { ...help, inspect: { type: 'string' } },
};

/**
 * Parses `sprout`'s arguments (without `node` and the script). Throws {@link CliUsageError} with
 * a one-line message for anything it does not accept.
 *
 * @example
 * parseCliArgs(['demo', '--children', '4', '--inspect']); // { command: 'demo', children: 4, inspectPort: 8080, … }
 */
export function parseCliArgs(argv: readonly string[]): CliRequest {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    // `sprout help help` is the overview.
    const topic = first === 'help' && rest[0] !== 'help' ? rest[0] : undefined;
    if (topic !== undefined && !isCommand(topic))
      throw new CliUsageError(`unknown command "${topic}" (commands: ${ALL_COMMANDS.join(', ')}; see sprout --help)`);
    return { command: 'help', topic };
  }
  if (first === '--version' || first === '-v') return { command: 'version' };
  if (!isCommand(first)) {
    const what = first.startsWith('-') ? `expected a command before ${first}` : `unknown command "${first}"`;
    throw new CliUsageError(`${what} (commands: ${ALL_COMMANDS.join(', ')}; see sprout --help)`);
  }
  const { values, positionals } = parse(first, rest);
  if (values.help === true) return { command: 'help', topic: first };
  const flag = flagReader(first, values);
  switch (first) {
    case 'demo': {
      noPositionals(first, positionals);
      const children = flag.int('children', { min: 1, max: 100 }) ?? 6;
      const fail = flag.bool('fail');
      const cancelAfterMs = flag.int('cancel-after', { min: 0, max: 600_000 });
      if (fail && cancelAfterMs !== undefined && children < 2) {
        throw new CliUsageError(`sprout demo: --fail and --cancel-after need --children 2 or more`);
      }
      return {
        command: 'demo',
        children,
        concurrency: flag.int('concurrency', { min: 1, max: 64 }) ?? 3,
        db: flag.text('db') ?? DEFAULT_DB_PATH,
        seed: flag.text('seed', 100),
        fail,
        cancelAfterMs,
        inspectPort: flag.int('inspect', { min: 0, max: 65_535, what: 'a port from 0 to 65535' }),
        trace: flag.text('trace'),
        json: flag.bool('json'),
        provider: readProvider(flag, fail),
      };
    }
    case 'status':
      noPositionals(first, positionals);
      return { command: 'status', db: flag.text('db') ?? DEFAULT_DB_PATH, json: flag.bool('json'), readOnly: flag.bool('read-only') };
    case 'trace-replay': {
      const [file, ...extra] = positionals;
      if (file === undefined || file === '')
        throw new CliUsageError('sprout trace-replay: missing the trace FILE (sprout trace-replay FILE [--inspect[=PORT]])');
      noPositionals(first, extra);
      return {
        command: 'trace-replay',
        file,
        inspectPort: flag.int('inspect', { min: 0, max: 65_535, what: 'a port from 0 to 65535' }) ?? DEFAULT_INSPECT_PORT,
      };
    }
  }
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** `--provider`, `--base-url` and `--model`: all three or none. */
function readProvider(flag: ReturnType<typeof flagReader>, fail: boolean): ProviderOptions | undefined {
  const provider = flag.text('provider', 100);
  const baseURL = flag.text('base-url');
  const model = flag.text('model', 500);
  if (provider === undefined && baseURL === undefined && model === undefined) return undefined;
  if (provider === undefined) throw new CliUsageError('sprout demo: --base-url and --model need --provider openai-compatible');
  if (!(PROVIDERS as readonly string[]).includes(provider)) {
    throw new CliUsageError(`sprout demo: unknown --provider "${provider}" (providers: ${PROVIDERS.join(', ')})`);
  }
  if (baseURL === undefined || model === undefined)
    throw new CliUsageError('sprout demo: --provider needs --base-url URL and --model NAME');
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new CliUsageError(`sprout demo: --base-url must be an http(s) URL (got "${baseURL}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliUsageError(`sprout demo: --base-url must be an http(s) URL (got "${baseURL}")`);
  if (fail) throw new CliUsageError('sprout demo: --fail simulates a failure of the scripted agent; it does not apply to --provider');
  return { kind: 'openai-compatible', baseURL, model };
}

/** Runs `util.parseArgs`, turning its errors into one-line {@link CliUsageError}s. */
function parse(command: CommandName, args: readonly string[]): { values: Values; positionals: string[] } {
  try {
    const options = commandOptions[command];
    const { values, positionals } = parseArgs({
      args: attachNegativeNumbers(normalizeInspect(args), options),
      options,
      strict: true,
      allowPositionals: true,
    });
    return { values, positionals };
  } catch (error) {
    throw new CliUsageError(`sprout ${command}: ${describeParseError(error)} (see sprout ${command} --help)`, { cause: error });
  }
}

/** `--inspect` takes an optional value: a bare `--inspect` means the default port; `--inspect 9000` works too. */
function normalizeInspect(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (arg !== '--inspect') {
      out.push(arg);
      continue;
    }
    const next = args[i + 1];
    if (next !== undefined && /^\d+$/.test(next)) {
      out.push(`--inspect=${next}`);
      i += 1;
    } else out.push(`--inspect=${DEFAULT_INSPECT_PORT}`);
  }
  return out;
}

/**
 * `--children -1`: `util.parseArgs` reads `-1` as an option and reports a missing value; attached
 * (`--children=-1`), the value reaches the range check, which names the allowed range.
 */
function attachNegativeNumbers(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else out.push(arg);
  }
  return out;
}

function noPositionals(command: CommandName, positionals: readonly string[]): void {
  if (positionals.length > 0)
    throw new CliUsageError(`sprout ${command}: unexpected argument "${positionals[0]}" (see sprout ${command} --help)`);
}

/** Typed, validated access to parsed flag values, with one-line errors naming the flag. */
function flagReader(command: CommandName, values: Values) {
  const fail = (message: string): never => {
    throw new CliUsageError(`sprout ${command}: ${message}`);
  };
  const raw = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    bool: (name: string): boolean => values[name] === true,
    text(name: string, maxLength = 4096): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      if (value.trim() === '') fail(`--${name} needs a non-empty value`);
      if (value.length > maxLength) fail(`--${name} is longer than ${maxLength} characters`);
      return value;
    },
    int(name: string, { min, max, what }: { min: number; max: number; what?: string }): number | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
        fail(`--${name} must be ${what ?? `an integer from ${min} to ${max}`} (got "${value}")`);
      }
      return parsed;
    },
  };
}
