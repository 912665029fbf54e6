import { randomInt } from 'node:crypto';

/** A deterministic pseudo-random source (mulberry32): same seed, same sequence. */
export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** A 32-bit unsigned integer. */
  uint32(): number;
}

/**
 * Hashes a seed string (and an optional stream name, so one seed gives independent streams) to a
 * 32-bit state (FNV-1a).
 *
 * @example
 * hashSeed('42', 'ids') !== hashSeed('42', 'scripts'); // true
 */
export function hashSeed(seed: string, stream = ''): number {
  let hash = 0x811c9dc5;
  for (const char of `${stream}\u0000${seed}`) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * A mulberry32 generator seeded from `seed` and a stream name.
 *
 * @example
 * const random = createSeededRandom('42', 'scripts');
 * random.int(200, 600); // the same number for every run with seed 42
 */
export function createSeededRandom(seed: string, stream = ''): SeededRandom {
  let state = hashSeed(seed, stream);
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => uint32() / 0x1_0000_0000;
  return {
    next,
    uint32,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick() needs a non-empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
  };
}

/**
 * An id generator for `createSpawnScheduler({ createId })`: UUID-shaped (version 4 layout) ids
 * drawn from a seeded stream, so the same seed gives the same run, child and message ids.
 *
 * @example
 * const createId = createSeededIds('42');
 * createId(); // e.g. '3f1c9a2e-7b4d-4c1e-9a0f-5d2e8c7b6a41', identical for every run with seed 42
 */
export function createSeededIds(seed: string, stream = 'ids'): () => string {
  const random = createSeededRandom(seed, stream);
  const hex = (): string => random.uint32().toString(16).padStart(8, '0');
  return () => {
    const raw = `${hex()}${hex()}${hex()}${hex()}`;
    const variant = ((Number.parseInt(raw.charAt(16), 16) & 0x3) | 0x8).toString(16);
    return `${raw.slice(0, 8)}-${raw.slice(8, 12)}-4${raw.slice(13, 16)}-${variant}${raw.slice(17, 20)}-${raw.slice(20, 32)}`;
  };
}

/**
 * A fresh seed for a run without `--seed` (printed, so the run can be repeated).
 *
 * @example
 * const seed = randomSeed(); // '483920'
 */
export function randomSeed(): string {
  return String(randomInt(100_000, 1_000_000));
}
