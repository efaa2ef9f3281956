/**
 * The benchmark's one table (what | measured | ratio/value | target | met?) and its JSON form,
 * so a run can be read by a person and compared by a program.
 */

/** One line of the table. */
export interface BenchLine {
  /** The row group it belongs to (`--only` selects groups). */
  readonly group: string;
  readonly what: string;
  /** How it was measured and the raw figures behind the value. */
  readonly measured: string;
  /** The ratio or value the target is about; null when it could not be measured. */
  readonly value: number | null;
  /** The value as shown, with its unit. */
  readonly shown: string;
  /** The target as shown, or '—' for an informational line. */
  readonly target: string;
  /** null for informational lines and for lines that could not be measured. */
  readonly met: boolean | null;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A Markdown table; pipes inside cells are escaped. */
export function markdownTable(lines: readonly BenchLine[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = [
    '| what | measured | ratio/value | target | met? |',
    '| --- | --- | --- | --- | --- |',
    ...lines.map((l) => `| ${cell(l.what)} | ${cell(l.measured)} | ${cell(l.shown)} | ${cell(l.target)} | ${l.met === null ? '—' : l.met ? 'yes' : '**no**'} |`),
  ];
  return `${rows.join('\n')}\n`;
}

/** A line for a row that failed to run: shown in the table, never hidden. */
export function failedLine(group: string, what: string, target: string, err: unknown): BenchLine {
  const message = err instanceof Error ? err.message : String(err);
  return { group, what, measured: `could not run: ${message.split('\n')[0]}`, value: null, shown: 'n/a', target, met: null };
}
