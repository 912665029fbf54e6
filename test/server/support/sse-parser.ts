/** One SSE frame as the standard parses it (https://html.spec.whatwg.org/#event-stream-interpretation). */
export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
  /** The frame's raw text (without the blank line that ends it). */
  raw: string;
}

/** What an SSE body contained: frames with data, comment lines, and retry hints. */
export interface SseParse {
  frames: SseFrame[];
  comments: string[];
  retries: number[];
  /** Text after the last complete frame. */
  rest: string;
}

/**
 * A strict parser of `text/event-stream`: lines end in `\n`, a frame ends with a blank line,
 * fields are `name: value`. Throws on `\r`, unknown fields, or a field without `: `.
 */
export function parseSse(text: string): SseParse {
  const out: SseParse = { frames: [], comments: [], retries: [], rest: '' };
  if (text.includes('\r')) throw new Error('SSE body contains \\r: Sprout frames use \\n only');
  const blocks = text.split('\n\n');
  out.rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const frame: SseFrame = { data: '', raw: block };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        out.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(': ');
      if (colon < 0) throw new Error(`SSE line without ": " separator: ${JSON.stringify(line)}`);
      const field = line.slice(0, colon);
      const value = line.slice(colon + 2);
      if (field === 'data') {
        frame.data = hasData ? `${frame.data}\n${value}` : value;
        hasData = true;
      } else if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else if (field === 'retry') {
        if (!/^\d+$/.test(value)) throw new Error(`bad retry ${value}`);
        out.retries.push(Number(value));
      } else throw new Error(`unknown SSE field ${field}`);
    }
    if (hasData) out.frames.push(frame);
  }
  return out;
}

/** An open SSE response being read: the text so far, and waiting for a condition on it. */
export interface SseReader {
  readonly status: number;
  readonly headers: Headers;
  /** Everything received so far. */
  text(): string;
  parsed(): SseParse;
  /** Resolves once `predicate(parsed)` holds (checked after every chunk); rejects if the stream ends first. */
  until(predicate: (parse: SseParse) => boolean): Promise<SseParse>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<SseParse>;
  /** Disconnects. */
  close(): void;
}

/** Opens an SSE stream with fetch and reads it in the background. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  let text = '';
  let done = false;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  const decoder = new TextDecoder();
  const ended = (async () => {
    if (response.body) {
      const reader = response.body.getReader();
      try {
        for (;;) {
          const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
          if (chunk.done || chunk.value === undefined) break;
          const value = chunk.value;
          text += decoder.decode(value, { stream: true });
          notify();
        }
      } catch {
        // Aborted by close(): the text read so far stays.
      }
    }
    done = true;
    notify();
    return parseSse(text);
  })();
  return {
    status: response.status,
    headers: response.headers,
    text: () => text,
    parsed: () => parseSse(text),
    until(predicate) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          let parse: SseParse;
          try {
            parse = parseSse(text);
          } catch (error) {
            waiters.delete(check);
            reject(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          if (predicate(parse)) {
            waiters.delete(check);
            resolve(parse);
          } else if (done) {
            waiters.delete(check);
            reject(new Error(`stream ended before the condition held; received:\n${text.slice(-2000)}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    ended,
    close: () => controller.abort(),
  };
}
