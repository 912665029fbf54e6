// Builds the package the way it is published and installs it the way a user does: a fresh build
// of dist/ (not the working tree's), `npm pack`, and the tarball installed into a temporary
// `"type": "module"` app from the local npm cache (`--prefer-offline`: tarballs come from the
// cache; only package metadata the cache lacks is asked of the registry).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  dependencies: Record<string, string>;
};

/** The package's npm name. */
export const PACKAGE_NAME = packageJson.name;

/** What a finished command printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Environment for child processes: the outer `npm test` leaves `npm_config_*`, `npm_package_*`
 * and `npm_lifecycle_*` variables behind, which would leak its configuration into the consumer's
 * npm; they are dropped. The npm cache stays the user's (that is where the install reads from).
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(config|package|lifecycle)_/i.test(key) || key === 'INIT_CWD' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return { ...env, FORCE_COLOR: '0', NO_COLOR: '1', NO_UPDATE_NOTIFIER: '1', ...extra };
}

/** Runs a command to its end (no shell) and resolves with its exit code and output. Never rejects on a non-zero exit. */
export function run(command: string, args: readonly string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: cleanEnv(extraEnv), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      // A spawn failure (command not found) has a string code; an exit status is a number.
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${command} could not run: ${error.message}`, { cause: error }));
        return;
      }
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

/** Runs a command and throws with its output when it fails. */
export async function runOk(
  command: string,
  args: readonly string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<CommandResult> {
  const result = await run(command, args, cwd, extraEnv);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited ${result.code}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`,
    );
  }
  return result;
}

/** The version of a package installed in the repository (so the consumer gets the same one from the cache). */
export function repoVersionOf(name: string): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** What `npm pack --json` reports about the tarball. */
export interface PackReport {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

/**
 * Builds dist/ into a staging copy of the package (never touching the working tree's dist/),
 * then packs it with `npm pack`. Resolves with the tarball's path and npm's report.
 */
export async function packPackage(workDir: string): Promise<{ tarball: string; report: PackReport }> {
  const stage = join(workDir, 'stage');
  mkdirSync(stage, { recursive: true });
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // A type error fails the build (as `npm run build` would). SPROUT_PACK_IGNORE_TYPE_ERRORS=1 packs
  // what tsc emitted anyway, to work on this test while src/ is mid-change elsewhere.
  const build = await run(
    process.execPath,
    [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')],
    REPO_ROOT,
  );
  if (build.code !== 0 && process.env.SPROUT_PACK_IGNORE_TYPE_ERRORS !== '1')
    throw new Error(`the build failed (tsc exited ${build.code}):\n${build.stdout.slice(-4000)}`);
  for (const entry of ['package.json', ...packageJson.files.filter((file) => file !== 'dist')]) {
    const from = join(REPO_ROOT, entry);
    if (existsSync(from)) cpSync(from, join(stage, entry), { recursive: true });
  }
  // The staged package is packed as is: its `prepare` (a rebuild) already happened above.
  const packed = await runOk('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], stage);
  const [report] = JSON.parse(packed.stdout) as PackReport[];
  if (!report) throw new Error(`npm pack printed no report: ${packed.stdout}`);
  return { tarball: join(workDir, report.filename), report };
}

/**
 * A consumer tsconfig: strict, `skipLibCheck: false`, `exactOptionalPropertyTypes`, nodenext,
 * for the given files. `dom` adds the DOM library, which the AI SDK's own declarations need.
 */
export function consumerTsconfig(include: readonly string[], { dom = false } = {}): string {
  const config = {
    compilerOptions: {
      target: 'ES2022',
      lib: dom ? ['ES2023', 'DOM'] : ['ES2023'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node'],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      outDir: 'out',
      rootDir: '.',
    },
    include,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** tsc's diagnostics, split into the ones Sprout answers for and those inside other packages. */
export interface TypecheckResult {
  code: number;
  /** Diagnostics in the app's own files or in Sprout's declarations: there must be none. */
  errors: string[];
  /** Diagnostics inside other packages' declarations (XState, the AI SDK; see the README). */
  thirdParty: string[];
}

/** The package a diagnostic line is located in (`xstate`, `@ai-sdk/provider`), if any. */
export function packageOf(line: string): string | undefined {
  return /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1];
}

/**
 * Runs the app's tsc on one project file. Some dependencies' own declarations do not pass
 * `skipLibCheck: false` with `exactOptionalPropertyTypes` (XState 5's setup.d.ts, the AI SDK's
 * index.d.ts): those lines are reported apart, so the test can check they are the packages' own
 * (a program that imports nothing but those packages gets the same ones), while everything else —
 * the app's code and Sprout's declarations — must be clean.
 */
export async function typecheck(app: string, project: string): Promise<TypecheckResult> {
  const result = await run(
    process.execPath,
    [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--pretty', 'false'],
    app,
  );
  const lines = `${result.stdout}${result.stderr}`.split('\n').filter((line) => /error TS\d+/.test(line));
  const ours = (line: string): boolean => packageOf(line) === undefined || packageOf(line) === PACKAGE_NAME;
  return { code: result.code, errors: lines.filter(ours), thirdParty: lines.filter((line) => !ours(line)) };
}

/**
 * Creates an empty ESM app in `dir` and installs the tarball plus TypeScript and `@types/node`
 * into it, from the npm cache first (`--prefer-offline`). Install scripts are skipped and better-sqlite3's native
 * addon is copied from the repository's own build when the versions match (the same Node ABI):
 * there is no prebuilt binary to download here, and compiling it from source costs minutes
 * without testing anything of Sprout's. Set `SPROUT_CONSUMER_NATIVE_BUILD=1` to compile it as a
 * plain `npm install` would.
 */
export async function createConsumerApp(dir: string, tarball: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'sprout-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
  await npmInstall(dir, [tarball, `typescript@${repoVersionOf('typescript')}`, `@types/node@${repoVersionOf('@types/node')}`]);
  await provideNativeSqlite(dir);
}

/** `npm install` from the cache first (`--prefer-offline`), without install scripts. */
export async function npmInstall(dir: string, specs: readonly string[]): Promise<void> {
  await runOk('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...specs], dir);
}

async function provideNativeSqlite(dir: string): Promise<void> {
  const target = join(dir, 'node_modules', 'better-sqlite3');
  const built = join(REPO_ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  const sameVersion =
    repoVersionOf('better-sqlite3') === (JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { version: string }).version;
  if (process.env.SPROUT_CONSUMER_NATIVE_BUILD !== '1' && sameVersion && existsSync(built)) {
    mkdirSync(join(target, 'build', 'Release'), { recursive: true });
    cpSync(built, join(target, 'build', 'Release', 'better_sqlite3.node'));
    return;
  }
  await runOk('npm', ['rebuild', 'better-sqlite3', '--prefer-offline', '--loglevel=error'], dir);
}

/** A fresh temp directory. */
export function tempWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'sprout-consumer-'));
}

/** Removes a temp directory (retrying briefly on a busy file). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}
