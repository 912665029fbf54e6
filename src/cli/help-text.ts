import { EXIT_CODES } from './cli-error.js';
import type { CommandName } from './parse-args.js';
import { DEFAULT_DB_PATH, DEFAULT_INSPECT_PORT } from './parse-args.js';

const overview = `sprout: run child agent sessions in the background (XState + RxJS)

Usage:
  sprout demo [options]                        a parent spawns children that run side by side, live
  sprout status [--db PATH] [--json]           every session in a database file, with its last run
  sprout trace-replay FILE [--inspect[=PORT]]  serve a recorded --trace to the Stately inspector
  sprout serve [--port N] [--db PATH] …        HTTP/SSE API, Bamboo-compatible API and live dashboard
  sprout worker --redis URL --postgres URL …   run children from the distributed queue (see sprout worker --help)
  sprout audit --db PATH | --postgres URL      check an event log and run ledger for broken invariants
  sprout help [command]                        more about one command
  sprout --version                             the package version

Exit codes (every command): ${EXIT_CODES.map(({ code, short }) => `${code} ${short}`).join(' · ')}
Guide: docs/guides/cli.md`;

const topics: Record<CommandName, string> = {
  demo: `sprout demo: a root session spawns children that run under the scheduler on the scripted agent
(token streams, tool calls, a few seconds of real time), stored in a SQLite file.

Options:
  --children N         children to spawn (1-100, default 6)
  --concurrency N      runs at once (1-64, default 3)
  --db PATH            SQLite file, created on first use (default ${DEFAULT_DB_PATH})
  --seed S             same seed, same plan: titles, scripts, which child fails or is
                       cancelled; ids are fresh on every run (default: a random seed, printed)
  --fail               one child fails (its run ends in error)
  --cancel-after MS    cancel one child MS milliseconds after the children were spawned
  --inspect[=PORT]     serve a loopback-only inspector relay (default port ${DEFAULT_INSPECT_PORT}; 0 = any free port)
                       and print the page to open to watch every machine in the Stately inspector
  --trace FILE         write the inspection events to FILE as JSON Lines (see sprout trace-replay)
  --json               one wire envelope {seq, sessionId, event} per line on stdout
  --provider openai-compatible --base-url URL --model NAME
                       run the children on a real model (an OpenAI-compatible server: OpenAI, llama.cpp,
                       vLLM, Ollama) instead of the scripted agent; API key from SPROUT_API_KEY

Output: live rows on a terminal, plain lines in a pipe, JSON Lines with --json; a summary at the end.
Exit code 0 when every run ended as expected (completed, or error / cancelled where asked).`,
  status: `sprout status: every session in a database file with its kind, parent, last_run_status,
last_run_error and update time.

Options:
  --db PATH      SQLite file (default ${DEFAULT_DB_PATH}); it must exist
  --json         one JSON document instead of a table
  --read-only    open the file read-only, do not reconcile: show runs exactly as stored

Unless the file is in use by a live sprout process, status first starts a scheduler on it, which
ends the runs a killed process left running or pending as error (reason interrupted).`,
  'trace-replay': `sprout trace-replay FILE: serve a trace written by "sprout demo --trace FILE" on the
loopback inspector relay, so the Stately inspector (or any createWebSocketReceiver) shows the
recorded machines. Runs until Ctrl+C.

Options:
  --inspect[=PORT]   relay port (default ${DEFAULT_INSPECT_PORT}; 0 = any free port)`,
};

/**
 * The help text of `sprout` or of one command.
 *
 * @example
 * stdout.write(helpText('demo'));
 */
export function helpText(topic?: CommandName): string {
  return `${topic === undefined ? overview : topics[topic]}\n`;
}
