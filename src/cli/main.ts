#!/usr/bin/env node
/**
 * The `sprout` command line: `sprout demo`, `sprout status`, `sprout trace-replay`, `sprout serve`,
 * `sprout worker`, `sprout audit`.
 *
 *   npx tsx src/cli/main.ts demo        (from the repository; also `npx sprout demo` via bin/sprout.js)
 *
 * See docs/guides/cli.md.
 */
import { exitCodeOf, oneLine } from './cli-error.js';
import { processIo } from './cli-io.js';
import { runCli } from './run-cli.js';

/** Resolves once everything written to `stream` so far was handed to the OS. */
const drained = (stream: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => stream.write('', () => resolve()));

// A closed pipe (`sprout demo | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
}

// Never a stack trace, even for an error that escaped every command (e.g. in a timer).
const crash = (error: unknown): void => {
  process.stderr.write(`sprout: ${oneLine(error)}\n`);
  process.exit(exitCodeOf(error));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

// Every command, `worker` and `help <command>` included, goes through runCli (src/cli/run-cli.ts).
const code = await runCli(process.argv.slice(2), processIo());
await drained(process.stdout);
await drained(process.stderr);
// Exit explicitly: a reconnect timer of an inspector or a stray socket must not keep the CLI alive.
process.exit(code);
