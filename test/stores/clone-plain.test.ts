import { describe, expect, it } from 'vitest';
import { clonePlain } from '../../src/adapters/memory/clone-plain.js';

describe('clonePlain', () => {
  it('deep-copies plain data: equal, nothing shared', () => {
    const value = { id: 's', n: 1, ok: true, none: null, messages: [{ role: 'user', content: 'hi', extra: { deep: [1, 2, { x: 'y' }] } }] };
    const copy = clonePlain(value);
    expect(copy).toEqual(value);
    expect(copy.messages).not.toBe(value.messages);
    expect(copy.messages[0]?.extra.deep[2]).not.toBe(value.messages[0]?.extra.deep[2]);
    copy.messages[0]!.content = 'changed';
    expect(value.messages[0]?.content).toBe('hi');
  });

  it('hands anything else to structuredClone: Dates and Maps survive, cycles are kept, functions throw as structuredClone does', () => {
    const at = new Date(0);
    expect(clonePlain({ at }).at).toEqual(at);
    expect(clonePlain({ map: new Map([['a', 1]]) }).map.get('a')).toBe(1);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const copy = clonePlain(cyclic);
    expect(copy.self).toBe(copy);
    expect(() => clonePlain({ fn: () => 1 })).toThrow();
    expect(() => structuredClone({ fn: () => 1 })).toThrow();
  });
});
