/* global AbortController, fetch, TextDecoder, setTimeout */
// Sprout dashboard: a resumable SSE client on fetch (EventSource cannot send a Last-Event-ID we
// choose, nor report HTTP statuses). It follows the server's `retry:` hint, resumes from the last
// id it saw, and counts gaps and duplicates in the ids (there should be none).

/**
 * @param {string} url
 * @param {{ onFrame: (frame: {id?: string, event?: string, data: string}) => void, onState?: (state: string) => void, resumable?: boolean }} handlers
 * @returns {{ close(): void, stats(): { lastId: number | undefined, gaps: number, duplicates: number, reconnects: number } }}
 */
export function connectSse(url, handlers) {
  let lastId;
  let retryMs = 3000;
  let closed = false;
  let controller;
  const stats = { gaps: 0, duplicates: 0, reconnects: 0 };
  const setState = (state) => handlers.onState?.(state);

  const dispatch = (block) => {
    const frame = { data: '' };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') {
        frame.data = hasData ? `${frame.data}\n${value}` : value;
        hasData = true;
      } else if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (!hasData) return;
    if (handlers.resumable !== false && frame.id !== undefined) {
      const id = Number(frame.id);
      if (lastId !== undefined) {
        if (id <= lastId && frame.event !== 'stream_truncated') {
          stats.duplicates += 1;
          return;
        }
        if (id > lastId + 1 && frame.event !== 'stream_truncated') stats.gaps += 1;
      }
      lastId = id;
    }
    handlers.onFrame(frame);
  };

  const run = async () => {
    while (!closed) {
      controller = new AbortController();
      const headers = { accept: 'text/event-stream' };
      if (lastId !== undefined && handlers.resumable !== false) headers['last-event-id'] = String(lastId);
      try {
        setState(stats.reconnects === 0 && lastId === undefined ? 'connecting' : 'reconnecting');
        const response = await fetch(url, { headers, signal: controller.signal, credentials: 'same-origin' });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        setState('live');
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // Network error or server gone: retry below.
      }
      if (closed) break;
      stats.reconnects += 1;
      setState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  };
  void run();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
    stats: () => ({ lastId, ...stats }),
  };
}
