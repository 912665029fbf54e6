import * as vitest from 'vitest';
import {
  describeSessionStoreConformance as describeSuite,
  makeSession,
  type CreateSessionStore,
} from '../../src/testing/conformance/session-store-conformance.js';

export { makeSession, type CreateSessionStore };

/** The shipped SessionStore conformance suite, run with Vitest. */
export function describeSessionStoreConformance(name: string, create: CreateSessionStore): void {
  describeSuite(name, create, vitest);
}
