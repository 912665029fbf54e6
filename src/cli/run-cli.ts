import { readFileSync } from 'node:fs';
import { CliUsageError, EXIT, exitCodeOf, oneLine } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { runDemo } from './demo-command.js';
import { helpText } from './help-text.js';
import { parseCliArgs } from './parse-args.js';
import { runStatus } from './status-command.js';
import { runTraceReplay } from './trace-replay-command.js';

/** The package version: package.json is two levels up from src/cli, three from dist/src/cli. */
function packageVersion(): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === '@sprout-agents/sprout' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not there: try the next location.
    }
  }
  return 'unknown';
}

/**
 * Runs one `sprout` command line and resolves with its exit code. Never throws: every error
 * becomes one line on stderr (`sprout: …`), exit code 2 for bad flags and unusable files, 1 for
 * anything else, and never a stack trace.
 *
 * @example
 * process.exitCode = await runCli(['status', '--db', 'sprout.db'], processIo());
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    // `serve` parses its own flags (src/cli/serve-args.ts); loaded lazily so other commands start as fast as before.
    if (argv[0] === 'serve') return await (await import('./serve-command.js')).runServe(argv.slice(1), io);
    if (argv[0] === 'help' && argv[1] === 'serve') return await (await import('./serve-command.js')).runServe(['--help'], io);
    // `audit` parses its own flags too (src/cli/audit-command.ts).
    if (argv[0] === 'audit' || (argv[0] === 'help' && argv[1] === 'audit'))
      return await (await import('./audit-command.js')).runAudit(argv[0] === 'audit' ? argv.slice(1) : ['--help'], io);
    // `worker` too (src/cli/worker-command.ts); it brings BullMQ and pg, hence the lazy import.
    if (argv[0] === 'worker' || (argv[0] === 'help' && argv[1] === 'worker'))
      return await (await import('./worker-command.js')).runWorkerCommand(argv[0] === 'worker' ? argv.slice(1) : ['--help'], io);
    const request = parseCliArgs(argv);
    switch (request.command) {
      case 'help':
        io.stdout.write(helpText(request.topic));
        return EXIT.ok;
      case 'version':
        io.stdout.write(`sprout ${packageVersion()}\n`);
        return EXIT.ok;
      case 'demo':
        return await runDemo(request, io);
      case 'status':
        return await runStatus(request, io.stdout);
      case 'trace-replay':
        return await runTraceReplay(request, io);
    }
  } catch (error) {
    const message = oneLine(error);
    io.stderr.write(`${error instanceof CliUsageError && message.startsWith('sprout') ? message : `sprout: ${message}`}\n`);
    return exitCodeOf(error);
  }
}
