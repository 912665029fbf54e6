/**
 * The slice of a test framework the conformance suites use. Vitest and Jest both fit as they
 * are (`import { describe, it, expect, beforeEach, afterEach } from 'vitest'`), so Sprout does not
 * load a test framework of its own.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeEventLogConformance('MyEventLog', async () => ({ log: new MyEventLog() }), vitest);
 */
export interface ConformanceTestApi {
  describe: (name: string, body: () => void) => void;
  it: (name: string, body: () => Promise<void> | void) => void;
  expect: ConformanceExpect;
}

/**
 * The matchers the suites use, with Vitest's and Jest's meaning: `toBe` is `Object.is`, `toEqual`
 * is deep equality that ignores properties whose value is `undefined` (`{ a: 1, b: undefined }`
 * equals `{ a: 1 }`). A failed match throws.
 *
 * @example
 * const expect: ConformanceExpect = vitest.expect;
 */
export type ConformanceExpect = (actual: unknown) => {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeUndefined(): void;
  toBeGreaterThan(expected: number): void;
  not: { toBe(expected: unknown): void; toEqual(expected: unknown): void };
};
