import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sessionEventEnvelopeSchema, type SessionEventEnvelope } from '../../machines/agent-event.events.js';

/** The repository root: the CLI runs from here, as `npx tsx src/cli/main.ts` would. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A fresh directory under the OS temp dir. */
export function tempDir(prefix = 'sprout-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A database path in a fresh temp directory (the file does not exist yet). */
export function tempDb(): string {
  return join(tempDir(), 'sprout.db');
}

/** A running `sprout` subprocess whose output is collected as it arrives. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the first line of stdout or stderr matching `pattern` (real I/O, not a sleep). */
  waitForLine(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<string>;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  readonly exited: Promise<number | string>;
}

/**
 * Starts `node --import tsx src/cli/main.ts ...args` in the repository, with stdout and stderr
 * as pipes (so the CLI sees no terminal).
 */
export function startCli(args: readonly string[]): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const text = { stdout: '', stderr: '' };
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    text.stdout += chunk;
    for (const watch of [...watchers]) watch();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    text.stderr += chunk;
    for (const watch of [...watchers]) watch();
  });
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitForLine(pattern, stream) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const sources = stream ? [text[stream]] : [text.stdout, text.stderr];
          for (const source of sources) {
            const line = source.split('\n').find((candidate) => pattern.test(candidate));
            if (line !== undefined) {
              watchers.delete(watch);
              resolve(line);
              return true;
            }
          }
          return false;
        };
        const watch = (): void => void check();
        if (check()) return;
        watchers.add(watch);
        void exited.then(() => {
          if (!check()) reject(new Error(`sprout exited before printing ${pattern}\nstdout:\n${text.stdout}\nstderr:\n${text.stderr}`));
        });
      });
    },
  };
}

/** What a finished `sprout` run printed, and its exit code. */
export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs `sprout ...args` to the end. */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  const cli = startCli(args);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Parses `--json` output: one wire envelope per line, each checked against the schema. */
export function parseEnvelopes(stdout: string): SessionEventEnvelope[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => sessionEventEnvelopeSchema.parse(JSON.parse(line)));
}
