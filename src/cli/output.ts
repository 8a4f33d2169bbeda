import type { Writable } from 'node:stream';

/** Human-readable by default, one JSON document with --json for scripts. */
export interface Output {
  result(data: unknown, human: () => string): void;
  note(text: string): void;
}

export function createOutput(stdout: Writable, stderr: Writable, json: boolean): Output {
  return {
    result(data, human) {
      stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
    },
    note(text) {
      stderr.write(`${text}\n`);
    },
  };
}

/** Aligned "label  value" lines. */
export function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** Columns for list output; the header is the first row. */
export function columns(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}
