// What an editor shows on hover is the doc comment of the declaration behind each export. This
// test reads the public entry points with the TypeScript compiler and checks that every export
// has one, that the main members carry an @example, and that every field of the public
// interfaces (options, briefs, results, ports, wire events) is documented too.
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entries = {
  '.': `${root}src/index.ts`,
  './testing': `${root}src/testing/index.ts`,
  './server': `${root}src/server/index.ts`,
  './postgres': `${root}src/adapters/postgres/index.ts`,
  './distributed': `${root}src/distributed/index.ts`,
};

/** Exports whose doc comment must carry an @example (the main members). */
const NEEDS_EXAMPLE = [
  'createSpawnScheduler',
  'SpawnScheduler',
  'SpawnSchedulerOptions',
  'SpawnBrief',
  'SpawnJob',
  'MemorySessionStore',
  'SqliteSessionStore',
  'SessionStore',
  'AgentRuntime',
  'EventLog',
  'aiSdkAgent',
  'openAICompatibleAgent',
  'AgentEvent',
  'Session',
  'SessionEventEnvelope',
  'SproutError',
  'scriptedAgent',
  'createTraceRecorder',
  'createTestClock',
];

interface Export {
  entry: string;
  name: string;
  symbol: ts.Symbol;
}

let checker: ts.TypeChecker;
let exports: Export[] = [];

const docOf = (symbol: ts.Symbol): string => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
const tagsOf = (symbol: ts.Symbol): string[] => symbol.getJsDocTags(checker).map((tag) => tag.name);
const fromPublicApi = (symbol: ts.Symbol): boolean =>
  (symbol.declarations ?? []).some((declaration) => {
    const file = declaration.getSourceFile().fileName;
    return file.includes('/src/api/') || file.endsWith('/scheduler-options.ts') || file.endsWith('/spawn-scheduler.ts');
  });

beforeAll(() => {
  const config = ts.getParsedCommandLineOfConfigFile(
    `${root}tsconfig.json`,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  if (!config) throw new Error('cannot read tsconfig.json');
  const program = ts.createProgram(Object.values(entries), { ...config.options, noEmit: true });
  checker = program.getTypeChecker();
  exports = Object.entries(entries).flatMap(([entry, file]) => {
    const source = program.getSourceFile(file);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read ${file}`);
    return checker.getExportsOfModule(module).map((symbol) => ({
      entry,
      name: symbol.name,
      symbol: symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol,
    }));
  });
}, 120_000);

describe('the public API as an editor shows it', () => {
  it('has a doc comment on every export of both entry points', () => {
    expect(exports.length).toBeGreaterThan(80);
    expect(exports.filter((e) => docOf(e.symbol) === '').map((e) => `${e.entry} ${e.name}`)).toEqual([]);
  });

  it('has an @example on each main member, and on every method of SpawnScheduler', () => {
    const byName = new Map(exports.map((e) => [e.name, e.symbol]));
    expect(NEEDS_EXAMPLE.filter((name) => !byName.has(name) || !tagsOf(byName.get(name) as ts.Symbol).includes('example'))).toEqual([]);
    const scheduler = checker.getDeclaredTypeOfSymbol(byName.get('SpawnScheduler') as ts.Symbol);
    const members = checker.getPropertiesOfType(scheduler).filter((member) => !['logic', 'input'].includes(member.name));
    expect(members.filter((member) => !tagsOf(member).includes('example')).map((member) => member.name)).toEqual([]);
  });

  it('documents every field of the public interfaces (options, briefs, results, ports, wire events)', () => {
    const undocumented: string[] = [];
    for (const { name, symbol } of exports) {
      if (!(symbol.flags & ts.SymbolFlags.Interface) || !fromPublicApi(symbol)) continue;
      for (const field of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol))) {
        if (field.name.startsWith('__')) continue;
        if (docOf(field) === '') undocumented.push(`${name}.${field.name}`);
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('shows the default of every optional scheduler option', () => {
    const options = exports.find((e) => e.entry === '.' && e.name === 'SpawnSchedulerOptions')?.symbol;
    expect(options).toBeDefined();
    const fields = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(options as ts.Symbol));
    const optional = fields.filter((field) => (field.flags & ts.SymbolFlags.Optional) !== 0);
    expect(optional.length).toBeGreaterThan(15);
    expect(optional.filter((field) => !tagsOf(field).includes('default')).map((field) => field.name)).toEqual([]);
  });
});
