import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDb } from './cli-process.js';

/** util-linux `script` gives the CLI a real pseudo-terminal, as a person's terminal would. */
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('sprout demo on a terminal', () => {
  it.skipIf(!hasScript)('draws one live row per child with listr2, marks each ending, then prints the summary', async () => {
    const { spawn } = await import('node:child_process');
    const command = `stty cols 200 rows 50; exec node --import tsx src/cli/main.ts demo --children 3 --fail --cancel-after 300 --seed tty --db ${tempDb()}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code).toBe(0);
    expect(output).toContain('\u001b['); // drawn in place, not printed line by line
    expect(output).toMatch(/queued|running/);
    expect(output).toMatch(/hb \d+\.\ds ago/);
    expect(output).toContain('✔'); // completed
    expect(output).toContain('✖'); // error
    expect(output).toContain('↓'); // cancelled
    expect(output).toMatch(/CHILD\s+TITLE\s+STATUS\s+DURATION\s+TOKENS\s+TOOLS\s+ANSWER \/ ERROR/);
    expect(output).toMatch(/3\/3 runs ended as expected/);
  });
});
