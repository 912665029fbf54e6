/** Many SSE clients on node:http, counting frames cheaply: what the `serve` scenario measures with. */
import { Agent, get, type ClientRequest } from 'node:http';

/** A set of open SSE connections. */
export interface SseClients {
  /** Frames (data events, not comments) each client received so far, summed. */
  frames(): number;
  /** Resolves once every client received a frame containing `marker`. */
  allSaw(): Promise<void>;
  close(): void;
}

/**
 * Opens `count` SSE connections to `url` and resolves once all are connected (response headers
 * received). Each client counts `\n\n`-terminated frames that are not comments and watches for
 * `marker` across chunk boundaries.
 */
export async function openSseClients(url: string, count: number, marker: string): Promise<SseClients> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const requests: ClientRequest[] = [];
  let frames = 0;
  let saw = 0;
  let onAll: (() => void) | undefined;
  const allSaw = new Promise<void>((resolve) => (onAll = resolve));
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const request = get(url, { agent, headers: { accept: 'text/event-stream' } }, (response) => {
            resolve();
            response.setEncoding('utf8');
            let carry = '';
            let seen = false;
            response.on('data', (chunk: string) => {
              const text = carry + chunk;
              let index = text.indexOf('\n\n');
              let start = 0;
              while (index >= 0) {
                if (text[start] !== ':' && !text.startsWith('retry:', start)) frames += 1;
                start = index + 2;
                index = text.indexOf('\n\n', start);
              }
              carry = text.slice(start);
              if (!seen && text.includes(marker)) {
                seen = true;
                saw += 1;
                if (saw === count) onAll?.();
              }
            });
          });
          request.on('error', reject);
          requests.push(request);
        }),
    ),
  );
  return {
    frames: () => frames,
    allSaw: () => allSaw,
    close() {
      for (const request of requests) request.destroy();
      agent.destroy();
    },
  };
}
