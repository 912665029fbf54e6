import type { TextOut } from './demo-view.js';

/** What a command needs from the process: its output streams and Ctrl+C. */
export interface CliIo {
  stdout: TextOut;
  stderr: TextOut;
  /**
   * Calls `handler` on the first Ctrl+C (SIGINT) or SIGTERM so the command can wind down; a
   * second one exits at once with code 130. Returns a function that removes the handler.
   */
  onInterrupt(handler: () => void): () => void;
  /** Environment variables (`SPROUT_API_KEY` for `--provider`). @default none */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The real process: `process.stdout`, `process.stderr`, SIGINT and SIGTERM.
 *
 * @example
 * const code = await runCli(process.argv.slice(2), processIo());
 */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onInterrupt(handler) {
      let seen = false;
      const listener = (): void => {
        if (seen) process.exit(130);
        seen = true;
        handler();
      };
      process.on('SIGINT', listener);
      process.on('SIGTERM', listener);
      return () => {
        process.off('SIGINT', listener);
        process.off('SIGTERM', listener);
      };
    },
  };
}
