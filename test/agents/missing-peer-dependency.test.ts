import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../machines/session.schema.js';

// `ai` is an optional peer dependency: importing the adapter must not load it, and running
// without it must fail the run with a typed error that says what to install.

afterEach(() => {
  vi.doUnmock('ai');
  vi.resetModules();
});

describe('aiSdkAgent without the optional `ai` package', () => {
  it('imports fine and rejects the run with MissingPeerDependencyError', async () => {
    vi.resetModules();
    vi.doMock('ai', () => {
      throw new Error("Cannot find package 'ai'");
    });
    const { aiSdkAgent, MissingPeerDependencyError } = await import('../../src/agents/ai-sdk/index.js');
    const agent = aiSdkAgent({ model: { specificationVersion: 'v3' } as never });

    const error = await agent
      .execute({ messages: [] } as unknown as Session, { model: 'm', signal: new AbortController().signal, emit: () => undefined })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(MissingPeerDependencyError);
    expect(error).toMatchObject({ code: 'MISSING_PEER_DEPENDENCY', packageName: 'ai' });
    expect((error as Error).message).toContain('npm install ai@^6');
  });
});
