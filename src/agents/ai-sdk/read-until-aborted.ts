import { AgentAbortedError, AgentProviderError } from './agent-errors.js';

/**
 * Yields the chunks of `stream` until it ends, and throws {@link AgentAbortedError} as soon as
 * `signal` aborts — even when the producer ignores the signal and the pending read never settles.
 * The stream is cancelled whenever iteration stops early (abort, error, `break`).
 *
 * @example
 * for await (const part of readUntilAborted(result.fullStream, signal)) handle(part);
 */
export async function* readUntilAborted<T>(stream: ReadableStream<T>, signal: AbortSignal): AsyncGenerator<T, void, undefined> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const next = await untilAborted(reader.read(), signal);
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) reader.cancel(signal.aborted ? signal.reason : undefined).catch(ignoreCancelFailure);
  }
}

/**
 * Settles like `promise`, or rejects with {@link AgentAbortedError} as soon as `signal` aborts
 * (at once if it already has). The listener is removed afterwards.
 *
 * @example
 * const model = await untilAborted(resolveModel(name), request.signal);
 */
export function untilAborted<T>(promise: PromiseLike<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AgentAbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AgentAbortedError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : AgentProviderError.from(error));
      },
    );
  });
}

/** Cancelling only releases the producer; its own failure has no run to be reported on. */
function ignoreCancelFailure(): void {}
