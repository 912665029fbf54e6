import { exitCodeTable } from './cli-error.js';
import { SERVE_HELP } from './serve-args.js';
import { AUDIT_HELP } from './audit-command.js';
import { helpText } from './help-text.js';
import { WORKER_HELP } from './worker-command.js';

/** The help text of each command, as `sprout help <command>` prints it: the source of docs/guides/cli.md's reference. */
export function commandHelps(): { command: string; text: string }[] {
  return [
    { command: 'demo', text: helpText('demo') },
    { command: 'status', text: helpText('status') },
    { command: 'trace-replay', text: helpText('trace-replay') },
    { command: 'serve', text: `${SERVE_HELP}\n` },
    { command: 'worker', text: `${WORKER_HELP}\n` },
    { command: 'audit', text: `${AUDIT_HELP}\n` },
  ];
}

const BEGIN = '<!-- BEGIN generated: sprout help (npx tsx src/cli/generate-cli-docs.ts) -->';
const END = '<!-- END generated: sprout help -->';
const EXIT_BEGIN = '<!-- BEGIN generated: exit codes (npx tsx src/cli/generate-cli-docs.ts) -->';
const EXIT_END = '<!-- END generated: exit codes -->';

/** Replaces the text between `begin` and `end` with `body`, or appends the section when they are missing. */
function withBlock(markdown: string, begin: string, end: string, body: string, heading: string): string {
  const block = `${begin}\n\n${body}\n\n${end}`;
  const start = markdown.indexOf(begin);
  const stop = markdown.indexOf(end);
  if (start >= 0 && stop > start) return `${markdown.slice(0, start)}${block}${markdown.slice(stop + end.length)}`;
  return `${markdown.trimEnd()}\n\n${heading}\n\n${block}\n`;
}

/**
 * The generated sections of docs/guides/cli.md: the exit codes of every command (`EXIT_CODES`,
 * the table the commands return from) and every command's `--help`, from the parsers' own help
 * texts, so the guide cannot drift from the command line.
 *
 * @example
 * writeFileSync('docs/guides/cli.md', withCommandReference(readFileSync('docs/guides/cli.md', 'utf8')));
 */
export function withCommandReference(markdown: string): string {
  const body = commandHelps()
    .map(({ command, text }) => `### \`sprout ${command} --help\`\n\n\`\`\`text\n${text.trimEnd()}\n\`\`\``)
    .join('\n\n');
  const withExits = withBlock(markdown, EXIT_BEGIN, EXIT_END, exitCodeTable(), '## Exit codes');
  return withBlock(withExits, BEGIN, END, body, "## Reference: every command's `--help`");
}
