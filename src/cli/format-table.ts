/**
 * A plain-text table: a header row, a rule, then the rows, columns padded to their widest cell
 * (no colours, no box drawing, so it reads the same in a terminal, a log or a bug report).
 *
 * @example
 * formatTable(['child', 'status'], [['Survey sources', 'completed']]);
 * // child           status
 * // --------------  ---------
 * // Survey sources  completed
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
