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
    throw new CliUsageError(
      `sprout ${command}: ${(error as Error).message.split('\n')[0] ?? 'bad arguments'} (see sprout ${command} --help)`,
      {
        cause: error,
      },
    );
  }
}
