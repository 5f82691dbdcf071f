// Reading the project's Markdown docs in tests: files, sections by heading, pipe tables by their
// header row, backticked names.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The text of a file of the repository, by path from its root. */
export function repoFile(path: string): string {
  return readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');
}

/**
 * The text of the Markdown section whose heading line is exactly `heading` (e.g. `## Operations`),
 * up to the next heading of the same or a higher level. Throws when there is no such heading.
 */
export function mdSection(md: string, heading: string): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const level = heading.match(/^#+/)?.[0].length ?? 0;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const m = /^(#+)\s/.exec(lines[i]);
    if (m && m[1].length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join('\n');
}

/** Splits a table row into trimmed cells; `\|` inside a cell is not a separator. */
function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/**
 * Rows of the first pipe table in `md` whose header cells are exactly `header`, each row as a
 * record keyed by header cell. Throws when no such table exists.
 */
export function mdTable(md: string, header: readonly string[]): Record<string, string>[] {
  const lines = md.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].trim().startsWith('|')) continue;
    const head = cells(lines[i]);
    if (head.length !== header.length || head.some((h, k) => h !== header[k])) continue;
    const rows: Record<string, string>[] = [];
    for (let j = i + 2; j < lines.length && lines[j].trim().startsWith('|'); j++) {
      const c = cells(lines[j]);
      if (c.length !== header.length) throw new Error(`table row with ${c.length} cells, expected ${header.length}: ${lines[j]}`);
      rows.push(Object.fromEntries(header.map((h, k) => [h, c[k]])));
    }
    return rows;
  }
  throw new Error(`no table with header | ${header.join(' | ')} |`);
}

/** The texts in backticks within `text`, in order. */
export function backticked(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}
