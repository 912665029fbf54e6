// The distributed front door lists every session PostgreSQL holds, also those another front door
// created before it started (issue 19 item 5: after a restart `sprout serve --redis --postgres`
// listed 0 sessions, because the server only walked roots created through itself). Real Redis,
// real PostgreSQL, real HTTP servers on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer, type ListeningSproutServer } from '../../src/server/listen-sprout-server.js';
import { api, createRoot } from '../server/support/test-server.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, type TestDeployment } from './support.js';

const unavailable = await servicesUnavailable();

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')(
  'front door session lists after a restart',
  () => {
    const deployments: TestDeployment[] = [];
    const running: { front: DistributedScheduler; listening: ListeningSproutServer }[] = [];
    afterEach(async () => {
      for (const { front, listening } of running.splice(0)) {
        await listening.close();
        await front.stop();
      }
      for (const deployment of deployments.splice(0)) await deployment.cleanup();
    });

    /** A started front door and its HTTP server (what `sprout serve --redis --postgres` builds). */
    const startFrontDoor = async (prefix: string) => {
      const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix });
      await front.start();
      const listening = await listenSproutServer(createSproutServer({ scheduler: front, store: front.store }), {
        host: '127.0.0.1',
        port: 0,
      });
      const entry = { front, listening };
      running.push(entry);
      return {
        url: listening.url,
        stop: async () => {
          running.splice(running.indexOf(entry), 1);
          await listening.close();
          await front.stop();
        },
      };
    };

    it('a new front door lists the roots and children the previous one created', async () => {
      const deployment = createTestDeployment();
      deployments.push(deployment);
      const first = await startFrontDoor(deployment.prefix);
      const roots = [await createRoot(first.url, 'First'), await createRoot(first.url, 'Second')];
      const spawned = await api<{ childSessionId: string }>(`${first.url}/v1/sessions/${roots[0]}/children`, {
        body: { title: 'Child', prompt: 'Do it' },
      });
      expect(spawned.status).toBe(202);
      await first.stop();

      const second = await startFrontDoor(deployment.prefix);
      const listed = await api<{ sessions: { id: string; title: string }[]; next_cursor: string | null }>(
        `${second.url}/v1/sessions?kind=root`,
      );
      expect(listed.status).toBe(200);
      expect(listed.body.sessions.map((session) => session.id).sort()).toEqual([...roots].sort());
      const tree = await api<{ sessions: { id: string }[] }>(`${second.url}/v1/sessions?root=${roots[0]}`);
      expect(tree.body.sessions.map((session) => session.id)).toEqual([roots[0], spawned.body.childSessionId]);
      const bamboo = await api<{ total: number; sessions: { id: string; subagent_count: number }[] }>(
        `${second.url}/api/v1/sessions?kind=root`,
      );
      expect(bamboo.body.total).toBe(2);
      expect(bamboo.body.sessions.find((session) => session.id === roots[0])?.subagent_count).toBe(1);
    });
  },
);
