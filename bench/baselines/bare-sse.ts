/**
 * The `serve` scenario's baseline: a bare node:http SSE server that writes the same frames
 * (`id:` / `event:` / `data:`, pre-serialized once per event) straight to every open response.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A bare SSE server on 127.0.0.1: `broadcast` writes one frame to every client. */
export async function startBareSse(): Promise<{
  url: string;
  clients: () => number;
  broadcast: (frame: string) => void;
  close: () => Promise<void>;
}> {
  const responses = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    response.write('retry: 3000\n\n');
    responses.add(response);
    request.on('close', () => responses.delete(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    clients: () => responses.size,
    broadcast(frame) {
      const bytes = Buffer.from(frame);
      for (const response of responses) response.write(bytes);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of responses) response.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
