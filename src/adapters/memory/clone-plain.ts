/** Nesting beyond which {@link clonePlain} hands the whole value to `structuredClone` (cycles, very deep data). */
const MAX_DEPTH = 64;

class NotPlain extends Error {}

function copy(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') throw new NotPlain();
    return value;
  }
  if (depth > MAX_DEPTH) throw new NotPlain();
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i], depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new NotPlain();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key], depth + 1);
  return out;
}

/**
 * A deep copy of plain data (objects, arrays, primitives) — several times faster than
 * `structuredClone` for the JSON-shaped sessions the memory store keeps. Anything else (a Date,
 * a Map, a cycle, very deep nesting, a function) goes to `structuredClone`, so the result and the
 * errors are exactly `structuredClone`'s.
 *
 * @example
 * const copy = clonePlain({ id: 's', messages: [{ role: 'user', content: 'hi' }] });
 */
export function clonePlain<T>(value: T): T {
  try {
    return copy(value, 0) as T;
  } catch (error) {
    if (!(error instanceof NotPlain) && !(error instanceof RangeError)) throw error;
    return structuredClone(value);
  }
}
