import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDb } from './cli-process.js';

/** util-linux `script` gives the CLI a real pseudo-terminal, as a person's terminal would. */
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/**
 * What a terminal shows at the end: replays text, `\r`, `\n` and the cursor moves and erases
 * that listr2 / log-update use (CSI A, K, G; others are ignored), line by line.
 */
function finalScreen(output: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const ESC = String.fromCharCode(27);
  const tokens = new RegExp(`${ESC}\\[([0-9;?]*)([A-Za-z])|\\r|\\n|[^${ESC}\\r\\n]+`, 'g');
  for (const [token, params = '', command] of output.matchAll(tokens)) {
    if (token === '\r') col = 0;
    else if (token === '\n') {
      row += 1;
      if (lines[row] === undefined) lines[row] = '';
    } else if (command === 'A') row = Math.max(0, row - Number(params || '1'));
    else if (command === 'K') lines[row] = '';
    else if (command === 'G') col = Number(params || '1') - 1;
    else if (command === undefined) {
      const line = lines[row] ?? '';
      lines[row] = line.slice(0, col).padEnd(col) + token + line.slice(col + token.length);
      col += token.length;
    }
  }
  return lines;
}

/** Runs the demo in a pseudo-terminal of `columns` × 50 and resolves with everything it drew. */
async function demoOnTerminal(columns: number): Promise<{ code: number | null; output: string }> {
  const command = `stty cols ${columns} rows 50; exec node --import tsx src/cli/main.ts demo --children 3 --fail --cancel-after 300 --seed tty --db ${tempDb()}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, output };
}

describe('sprout demo on a terminal', () => {
  // Bugs pinned: listr2 drew the final rows a second time after its last frame (a row title set
  // after every task had ended), and on 80 columns rows were cut before the elapsed time.
  it.skipIf(!hasScript)(
    'draws one live row per child, leaves each final row on screen once, fitted to 80 columns, then the verdict',
    async () => {
      const { code, output } = await demoOnTerminal(80);
      expect(code).toBe(0);
      expect(output).toContain('\u001b['); // drawn in place, not printed line by line
      expect(output).toMatch(/queued|running/);
      expect(output).toMatch(/hb \d+\.\ds ago/);

      const screen = finalScreen(output).map((line) => line.trimEnd());
      const rows = screen.filter((line) => /^[✔✖↓] /.test(line));
      expect(rows).toHaveLength(3);
      expect(rows.map((line) => line.charAt(0)).sort()).toEqual(['↓', '✔', '✖']);
      for (const line of rows) {
        expect(line.length).toBeLessThanOrEqual(80);
        expect(line).toMatch(/ (completed|error|cancelled)\s+\d+\.\ds\s+\d+ tok\s+\d+ tools?\s+\S/);
      }
      expect(rows.find((line) => line.startsWith('✔'))).toMatch(/“.+”$/);
      expect(screen.filter((line) => /runs ended as expected/.test(line))).toHaveLength(1);
      expect(screen.join('\n')).toMatch(
        /3\/3 runs ended as expected .* · repeat: sprout demo --seed tty --children 3 --concurrency 3 --fail --cancel-after 300 --db /,
      );
    },
    120_000,
  );
});
