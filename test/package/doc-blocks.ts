// Extracts the TypeScript code blocks of the README and the guides, so the consumer test can
// typecheck every one of them against the packed package: documentation that stops compiling
// fails the build instead of rotting.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** One ```ts block of a markdown file. */
export interface DocBlock {
  /** The markdown file, relative to the package root (`README.md`, `docs/guides/cli.md`). */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The heading the block sits under (`Embedding`, …). */
  heading: string;
  code: string;
}

const FENCE = /^```(\S*)(.*)$/;

/**
 * The ```ts / ```typescript blocks of one markdown text. A block whose info string says
 * `no-check` (```ts no-check) is a fragment on purpose and is left out.
 *
 * @example
 * tsBlocks('# A\n```ts\nconst x = 1;\n```\n', 'README.md'); // [{ file: 'README.md', line: 2, heading: 'A', code: 'const x = 1;' }]
 */
export function tsBlocks(markdown: string, file: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split('\n');
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '').trim();
    const fence = FENCE.exec(line);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
    const [, language = '', info = ''] = fence;
    if ((language === 'ts' || language === 'typescript') && !info.includes('no-check')) {
      blocks.push({ file, line: start + 1, heading, code: body.join('\n') });
    }
  }
  return blocks;
}

/** The ts blocks of `README.md` and every `docs/guides/*.md` under a package root. */
export function packageDocBlocks(packageRoot: string): DocBlock[] {
  const files = ['README.md'];
  const guides = join(packageRoot, 'docs', 'guides');
  if (existsSync(guides))
    files.push(
      ...readdirSync(guides)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/guides/${name}`),
    );
  return files.flatMap((file) => tsBlocks(readFileSync(join(packageRoot, file), 'utf8'), file));
}

/** A file name for a block: `README.md-L42.ts`. */
export function blockFileName(block: DocBlock): string {
  return `${basename(block.file)}-L${block.line}.ts`;
}

/**
 * Ambient names the guides' snippets use without defining them (a scheduler, a store, an
 * agent…): declared once, globally, so a snippet can stay short and still be checked. A snippet
 * that defines one of these itself shadows it.
 */
export function blockPrelude(packageName: string): string {
  return `import type * as Sprout from '${packageName}';
import type { TestClock } from '${packageName}/testing';

declare global {
  const clock: TestClock;
  const scheduler: Sprout.SpawnScheduler;
  const store: Sprout.SessionStore;
  const agent: Sprout.AgentRuntime;
  const session: Sprout.Session;
  const request: Sprout.ExecuteRequest;
  const parentId: string;
  const childSessionId: string;
}

export {};
`;
}
