import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SproutValidationError } from '../../src/errors.js';
import type { Session } from '../../machines/session.schema.js';
import { makeSession } from '../conformance/session-store.conformance.js';

describe('MemorySessionStore', () => {
  it('counts stored sessions', async () => {
    const store = new MemorySessionStore();
    await store.save(makeSession('a'));
    await store.save(makeSession('b'));
    expect(store.size).toBe(2);
    await store.delete('a');
    expect(store.size).toBe(1);
  });

  it('rejects a session that cannot be cloned as invalid', async () => {
    const store = new MemorySessionStore();
    const session = { ...makeSession('fn'), callback: () => 1 } as unknown as Session;
    await expect(store.save(session)).rejects.toBeInstanceOf(SproutValidationError);
    expect(store.size).toBe(0);
  });
});
