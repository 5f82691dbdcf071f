// The shape of the house: no import cycle among server/ modules (type-only imports included), the
// server file stays wiring plus the frame, and no test depends on bench/ (the lint boundary rule
// enforces folders; this checks the resolved graph).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...files(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Relative imports of a source file, resolved to repository paths. */
function importsOf(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g), ...src.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)));
}

/** The first cycle found in the graph, as a path, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

describe('architecture', () => {
  it('server/ has no import cycle', () => {
    const server = files('server');
    const graph = new Map(server.map((f) => [f, importsOf(f).filter((i) => i.startsWith('server/'))]));
    expect(server.length).toBeGreaterThan(15);
    expect(findCycle(graph)).toBeUndefined();
  });

  it('the cycle check finds a cycle when there is one', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
  });

  it('server/server.ts is wiring plus the frame: under 250 lines', () => {
    expect(readFileSync(join(ROOT, 'server/server.ts'), 'utf8').split('\n').length).toBeLessThan(250);
  });

  it('no test imports from bench/', () => {
    const offenders = files('test').filter((f) => importsOf(f).some((i) => i.startsWith('bench/')));
    expect(offenders).toEqual([]);
  });
});
