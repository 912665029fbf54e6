import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The module graph of the shipped code (src/ and machines/), read with the TypeScript compiler's
 * own import scanner: it must have no import cycle, and machines/ must never import from src/.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports (static and dynamic, type-only included) of a file, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((entry) => entry.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name.replace(/\.js$/, '.ts')));
}

function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (state.get(node) === undefined) visit(node);
  return cycles;
}

const files = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'machines'))];
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const show = (path: string): string => relative(root, path);

describe('import graph of src/ and machines/', () => {
  it('reads a real graph', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(importsOf(join(root, 'src/index.ts')).length).toBeGreaterThan(5);
  });

  it('has no import cycle', () => {
    expect(findCycles(graph).map((cycle) => cycle.map(show).join(' → '))).toEqual([]);
  });

  it('machines/ imports nothing from src/ (or anywhere outside machines/)', () => {
    const outside = [...graph]
      .filter(([file]) => file.startsWith(join(root, 'machines')))
      .flatMap(([file, imports]) =>
        imports.filter((target) => !target.startsWith(join(root, 'machines'))).map((target) => `${show(file)} → ${show(target)}`),
      );
    expect(outside).toEqual([]);
  });

  it('the scheduler and the streams import no adapter (src/adapters/ is reached only from the composition root, CLI and server)', () => {
    const core = [join(root, 'src/scheduler'), join(root, 'src/streams'), join(root, 'src/api')];
    const adapters = join(root, 'src/adapters');
    const leaks = [...graph]
      .filter(([file]) => core.some((dir) => file.startsWith(dir)))
      .flatMap(([file, imports]) =>
        imports.filter((target) => target.startsWith(adapters)).map((target) => `${show(file)} → ${show(target)}`),
      );
    expect(leaks).toEqual([]);
  });

  it('no adapter class is tested with instanceof outside its own folder', () => {
    const adapterClasses = files
      .filter((file) => file.startsWith(join(root, 'src/adapters')))
      .flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(/export class (\w+)/g)].map((match) => ({ name: match[1] as string, file })),
      );
    expect(adapterClasses.map((entry) => entry.name)).toEqual(
      expect.arrayContaining(['MemorySessionStore', 'MemoryEventLog', 'SqliteSessionStore', 'SqliteEventLog']),
    );
    const found = files.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return adapterClasses
        .filter((entry) => dirname(entry.file) !== dirname(file) && new RegExp(`instanceof\\s+${entry.name}\\b`).test(text))
        .map((entry) => `${show(file)}: instanceof ${entry.name}`);
    });
    expect(found).toEqual([]);
  });

  it('the cycle finder finds a cycle', () => {
    const cyclic = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(findCycles(cyclic)).toEqual([['a', 'b', 'c', 'a']]);
  });
});
