import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The module graph of the shipped code (src/ and machines/), read with the TypeScript compiler's
 * own import scanner: it must have no import cycle, machines/ must never import from src/, and
 * every import points down the layers (docs/architecture.md, "Layers").
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

/**
 * The layers, lowest first. A file may import its own layer and the layers below it, never one
 * above. Each entry is a folder (trailing `/`) or a file, relative to the repository root; every
 * file of src/ and machines/ must fall in exactly one, so a new folder or top-level file has to be
 * placed here. No import is exempt.
 */
const LAYERS: readonly { name: string; members: readonly string[] }[] = [
  // Pure statecharts and their schemas.
  { name: 'machines', members: ['machines/'] },
  // Public types and ports, and the leaf modules everything may use (errors, the clock, pure helpers).
  { name: 'api', members: ['src/api/', 'src/errors.ts', 'src/clock.ts', 'src/well-formed-text.ts', 'src/audit/'] },
  // The runtime's parts: streams, port adapters, agents.
  { name: 'runtime', members: ['src/streams/', 'src/adapters/', 'src/agents/'] },
  // The SpawnScheduler API's deployment-neutral operations (argument schemas, run, spawnChild,
  // summaries, the wait policy), written once over ports: both deployments call them.
  { name: 'core', members: ['src/core/'] },
  // The scheduler, its composition root, and the testing entry (scripted agent, simulated clock).
  { name: 'scheduler', members: ['src/scheduler/', 'src/create-spawn-scheduler.ts', 'src/testing/'] },
  // Deployments and observers of a scheduler, and the package root that re-exports telemetry.
  { name: 'deployment', members: ['src/distributed/', 'src/telemetry/', 'src/index.ts'] },
  // The HTTP server (the ./server entry).
  { name: 'server', members: ['src/server/'] },
  // The `sprout` command: may use everything.
  { name: 'cli', members: ['src/cli/'] },
];

/** The index of a file's layer in `layers`, or -1 when none holds it (paths relative to the root). */
function layerOf(layers: typeof LAYERS, path: string): number {
  return layers.findIndex((layer) => layer.members.some((member) => (member.endsWith('/') ? path.startsWith(member) : path === member)));
}

/** Every import that points up the layers, as `file (layer) → target (layer)`. */
function upwardImports(layers: typeof LAYERS, edges: ReadonlyMap<string, readonly string[]>): string[] {
  return [...edges].flatMap(([file, imports]) => {
    const from = layerOf(layers, file);
    return imports
      .filter((target) => layerOf(layers, target) > from)
      .map((target) => `${file} (${layers[from]?.name}) → ${target} (${layers[layerOf(layers, target)]?.name})`);
  });
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

  it('places every file of src/ and machines/ in one layer', () => {
    const unplaced = files.map(show).filter((path) => layerOf(LAYERS, path) === -1);
    expect(unplaced).toEqual([]);
    const twice = files.map(show).filter((path) => LAYERS.filter((layer) => layerOf([layer], path) === 0).length > 1);
    expect(twice).toEqual([]);
  });

  it('imports point down the layers: machines ← api ← runtime ← core ← scheduler ← deployment ← server ← cli', () => {
    const relativeGraph = new Map([...graph].map(([file, imports]) => [show(file), imports.map(show)]));
    expect(upwardImports(LAYERS, relativeGraph)).toEqual([]);
  });

  it('the scheduler and the streams import no adapter (src/adapters/ is reached only from the composition root, CLI and server)', () => {
    const core = [join(root, 'src/scheduler'), join(root, 'src/core'), join(root, 'src/streams'), join(root, 'src/api')];
    const adapters = join(root, 'src/adapters');
    const leaks = [...graph]
      .filter(([file]) => core.some((dir) => file.startsWith(dir)))
      .flatMap(([file, imports]) =>
        imports.filter((target) => target.startsWith(adapters)).map((target) => `${show(file)} → ${show(target)}`),
      );
    expect(leaks).toEqual([]);
  });

  it('distributed mode imports no scheduler internals: only the composition root, the core and the ports', () => {
    const internals = join(root, 'src/scheduler');
    const reached = [...graph]
      .filter(([file]) => file.startsWith(join(root, 'src/distributed')))
      .flatMap(([file, imports]) =>
        imports.filter((target) => target.startsWith(internals)).map((target) => `${show(file)} → ${show(target)}`),
      );
    expect(reached).toEqual([]);
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

  it('the layer check finds an upward import and allows sideways and downward ones', () => {
    const layers = [
      { name: 'low', members: ['low/'] },
      { name: 'high', members: ['high/', 'top.ts'] },
    ];
    const edges = new Map([
      ['low/a.ts', ['low/b.ts', 'high/c.ts', 'top.ts']],
      ['high/c.ts', ['low/a.ts', 'top.ts']],
    ]);
    expect(upwardImports(layers, edges)).toEqual(['low/a.ts (low) → high/c.ts (high)', 'low/a.ts (low) → top.ts (high)']);
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
