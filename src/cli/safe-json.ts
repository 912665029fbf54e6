/**
 * `JSON.stringify` that never throws: cycles become `"[Circular]"`, values deeper than
 * `depthLimit` become `"[Object]"` / `"[Array]"`, functions `{ type: name }` (as
 * `@statelyai/inspect` does), errors `{ name, message }`, bigints strings. `toJSON` is honoured,
 * so XState snapshots and actor refs serialize the way XState intends.
 *
 * @example
 * safeJsonStringify({ self: globalThis }); // no throw
 */
export function safeJsonStringify(value: unknown, depthLimit = 10): string {
  const ancestors: object[] = [];
  const walk = (input: unknown, depth: number): unknown => {
    let current = input;
    if (current !== null && typeof current === 'object' && typeof (current as { toJSON?: unknown }).toJSON === 'function') {
      try {
        current = (current as { toJSON: () => unknown }).toJSON();
      } catch {
        return '[Unserializable]';
      }
    }
    if (typeof current === 'bigint') return current.toString();
    if (typeof current === 'function') return { type: current.name || 'anonymous' };
    if (current === null || typeof current !== 'object') return current;
    if (current instanceof Error) return { name: current.name, message: current.message };
    if (ancestors.includes(current)) return '[Circular]';
    if (depth >= depthLimit) return Array.isArray(current) ? '[Array]' : '[Object]';
    ancestors.push(current);
    try {
      if (Array.isArray(current)) return current.map((item) => walk(item, depth + 1) ?? null);
      if (current instanceof Map) return Object.fromEntries([...current].map(([key, item]) => [String(key), walk(item, depth + 1)]));
      if (current instanceof Set) return [...current].map((item) => walk(item, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(current)) {
        const walked = walk(item, depth + 1);
        if (walked !== undefined) out[key] = walked;
      }
      return out;
    } finally {
      ancestors.pop();
    }
  };
  return JSON.stringify(walk(value, 0)) ?? 'null';
}
