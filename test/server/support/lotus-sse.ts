/** One event stream read the way legacy Lotus's `AgentClient.subscribeToEvents` reads it. */
export interface LotusStream {
  readonly status: number;
  readonly headers: Headers;
  /** Events parsed so far (JSON of every `data: ` line but `[DONE]`). */
  readonly events: { type: string; [key: string]: unknown }[];
  /** `data: ` lines that were not JSON (Lotus `console.warn`s and carries on). */
  readonly unparsed: string[];
  /** True once `data: [DONE]` arrived (Lotus returns from the subscription there). */
  readonly done: boolean;
  /** Resolves once `predicate` holds (checked after every chunk); rejects if the stream ends first. */
  until(predicate: (stream: LotusStream) => boolean): Promise<void>;
  /** Resolves when the subscription returns: on `[DONE]` or when the server ends the body. */
  readonly ended: Promise<{ done: boolean; serverClosed: boolean }>;
  close(): void;
}

/**
 * Subscribes like legacy Lotus (Bamboo-bot `AgentService.ts`): `fetch` with `Content-Type:
 * application/json` and no `Accept`, the body decoded and split on `\n` (an incomplete last line
 * kept for the next chunk), only lines starting with `data: ` used, `data: [DONE]` ends the
 * subscription, anything else `JSON.parse`d; `id:` lines, `event:` lines and `:` comments are
 * ignored.
 */
export async function lotusSubscribe(url: string, headers: Record<string, string> = {}): Promise<LotusStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { 'Content-Type': 'application/json', ...headers }, signal: controller.signal });
  const events: LotusStream['events'] = [];
  const unparsed: string[] = [];
  let done = false;
  let finished = false;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  const stream: LotusStream = {
    status: response.status,
    headers: response.headers,
    events,
    unparsed,
    get done() {
      return done;
    },
    until(predicate) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (predicate(stream)) {
            waiters.delete(check);
            resolve();
          } else if (finished) {
            waiters.delete(check);
            reject(new Error(`stream ended before the condition held; events: ${JSON.stringify(events.map((event) => event.type))}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    ended: Promise.resolve({ done: false, serverClosed: false }),
    close: () => controller.abort(),
  };
  (stream as { ended: LotusStream['ended'] }).ended = (async () => {
    let serverClosed = false;
    if (response.ok && response.body) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        read: for (;;) {
          const { done: end, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
          if (end || value === undefined) {
            serverClosed = true;
            break;
          }
          buffer += decoder.decode(value, { stream: true });
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.startsWith('data: ')) continue;
            const data = line.slice(6);
            if (data === '[DONE]') {
              done = true;
              break read;
            }
            try {
              events.push(JSON.parse(data) as { type: string });
            } catch {
              unparsed.push(data);
            }
          }
          notify();
        }
      } catch {
        // Aborted by close().
      }
      if (done) {
        // Lotus stops reading at [DONE]; the server must end the body right after it.
        try {
          serverClosed = (await reader.read()).done;
        } catch {
          serverClosed = false;
        }
      }
    }
    finished = true;
    notify();
    return { done, serverClosed };
  })();
  return stream;
}
