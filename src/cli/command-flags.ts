import { parseArgs, type ParseArgsConfig } from 'node:util';
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
