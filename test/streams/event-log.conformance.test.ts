import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vitest from 'vitest';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { describeEventLogConformance } from '../../src/testing/conformance/event-log-conformance.js';

describeEventLogConformance('MemoryEventLog', ({ retention }) => Promise.resolve({ log: new MemoryEventLog({ retention }) }), vitest);

describeEventLogConformance(
  'SqliteEventLog (file)',
  ({ retention }) => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-log-conformance-'));
    const path = join(dir, 'sprout.db');
    let store = new SqliteSessionStore(path);
    const log = new SqliteEventLog(store, { retention });
    return Promise.resolve({
      log,
      reopen: () => {
        store.close();
        store = new SqliteSessionStore(path);
        return Promise.resolve(new SqliteEventLog(store, { retention }));
      },
      cleanup: () => {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  },
  vitest,
);
