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

/**
 * The reference section of docs/guides/cli.md: every command's `--help`, generated from the
 * parsers' own help texts so the guide cannot drift from the command line.
 *
 * @example
 * writeFileSync('docs/guides/cli.md', withCommandReference(readFileSync('docs/guides/cli.md', 'utf8')));
 */
export function withCommandReference(markdown: string): string {
  const body = commandHelps()
    .map(({ command, text }) => `### \`sprout ${command} --help\`\n\n\`\`\`text\n${text.trimEnd()}\n\`\`\``)
    .join('\n\n');
  const block = `${BEGIN}\n\n${body}\n\n${END}`;
  const start = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (start >= 0 && end > start) return `${markdown.slice(0, start)}${block}${markdown.slice(end + END.length)}`;
  return `${markdown.trimEnd()}\n\n## Reference: every command's \`--help\`\n\n${block}\n`;
}
