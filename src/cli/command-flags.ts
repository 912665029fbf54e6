import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { CliUsageError } from './cli-error.js';

/**
 * Parses a subcommand's flags with `node:util` `parseArgs` (strict, no positionals). A flag it
 * does not know, or a missing value, becomes a one-line {@link CliUsageError}:
 * `sprout <command>: <problem> (see sprout <command> --help)`.
 *
 * @example
 * const values = parseCommandFlags('serve', argv, { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
 */
export function parseCommandFlags(
  command: string,
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
): Record<string, unknown> {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new CliUsageError(`sprout ${command}: ${describeParseError(error)} (see sprout ${command} --help)`, { cause: error });
  }
}

/**
 * A `node:util` `parseArgs` error in the CLI's own words, the same for every command:
 * `unknown option --x`, `unexpected argument "y"`, `--port needs a value`, `--json takes no value`.
 *
 * @example
 * describeParseError(error); // 'unknown option --frobnicate'
 */
export function describeParseError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const option = quoted.split(' ')[0] ?? quoted;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}"`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.includes('does not take an argument') ? `${option} takes no value` : `${option} needs a value`;
    default:
      return message.split('\n')[0] ?? 'invalid arguments';
  }
}

/** The environment variable that stands in for `--max-depth` in `sprout serve` and `sprout worker`. */
export const MAX_DEPTH_ENV = 'SPROUT_MAX_DEPTH';

/** `--max-depth` when neither the flag nor {@link MAX_DEPTH_ENV} is given: the schedulers' own default. */
export const DEFAULT_MAX_DEPTH = 4;

/**
 * `--max-depth N` (0-1000, default {@link DEFAULT_MAX_DEPTH}): the deepest child spawned (a root
 * is depth 0) and how many levels a child's events are forwarded up. One schema for `sprout serve`
 * and `sprout worker`, so a deployment's front doors and workers accept the same values.
 *
 * @example
 * z.object({ 'max-depth': maxDepthFlagSchema }).parse({ 'max-depth': '6' }); // { 'max-depth': 6 }
 */
export const maxDepthFlagSchema = z
  .string()
  .regex(/^\d+$/, 'must be an integer')
  .transform(Number)
  .pipe(z.number().int().min(0).max(1000))
  .default(DEFAULT_MAX_DEPTH);

/**
 * The raw `--max-depth` of a command: the flag, else {@link MAX_DEPTH_ENV} (an empty value counts
 * as unset), else undefined (the schema's default).
 *
 * @example
 * maxDepthInput({ 'max-depth': undefined }, { SPROUT_MAX_DEPTH: '6' }); // '6'
 */
export function maxDepthInput(
  values: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const flag = values['max-depth'];
  if (typeof flag === 'string') return flag;
  const fromEnv = env[MAX_DEPTH_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
