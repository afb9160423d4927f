/**
 * A plain-text table: left-aligned columns separated by two spaces.
 *
 * @module
 */

/**
 * Lays out `rows` under `header`, padding every column but the last to its
 * widest cell. Returns one string per line, without trailing spaces.
 *
 * @example
 * ```ts
 * formatTable(['ID', 'STATUS'], [['a', 'UP']]); // ['ID  STATUS', 'a   UP']
 * ```
 */
export const formatTable = (
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] => {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    header
      .map((_, c) => {
        const cell = cells[c] ?? '';
        return c === header.length - 1 ? cell : cell.padEnd(widths[c]!);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
};
