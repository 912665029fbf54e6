// Rows read from the server instead of the event stream: the stored child session (its latest
// run's status, error, answer, tool calls and times) for runs whose events retention dropped
// (the log keeps the last N events per session), and the server's times of every ended run.

const ENDED = new Set(['completed', 'error', 'cancelled', 'skipped']);

/** A stored `last_run_status` as a row status (`pending` reads as `queued`). */
export function statusOfStored(value) {
  return value === 'pending' ? 'queued' : (value ?? 'unknown');
}

const ms = (text) => {
  const at = Date.parse(text ?? '');
  return Number.isNaN(at) ? undefined : at;
};

/**
 * The latest run of a stored session (`GET /v1/sessions/{id}`): its status, error, answer, tool
 * calls, and times — queued at its last user message, ended at the session's last save once the
 * run ended. Server times only.
 */
export function storedRun(session) {
  const messages = session.messages ?? [];
  let lastUser = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') {
      lastUser = i;
      break;
    }
  }
  const run = messages.slice(lastUser + 1);
  const status = statusOfStored(session.metadata?.last_run_status);
  const answers = run.filter((message) => message.role === 'assistant' && message.content);
  const toolResults = run.filter((message) => message.role === 'tool').length;
  const toolCalls = run.reduce((sum, message) => sum + (Array.isArray(message.tool_calls) ? message.tool_calls.length : 0), 0);
  return {
    runId: session.metadata?.last_run_id ?? '',
    status,
    error: session.metadata?.last_run_error,
    answer: status === 'completed' ? answers.at(-1)?.content : undefined,
    tools: Math.max(toolResults, toolCalls),
    queuedAt: ms(lastUser >= 0 ? messages[lastUser].created_at : session.created_at),
    endedAt: ENDED.has(status) ? ms(session.updated_at) : undefined,
  };
}

/**
 * Tokens of a child's latest run from its own retained stream (`GET /v1/sessions/{id}/events`):
 * the token events when the stream still has all of them, else the usage its `complete` reported.
 */
export async function storedTokens(getJson, id) {
  let after = 0;
  let count = 0;
  let truncated = false;
  let usage;
  for (let page = 0; page < 20; page++) {
    const body = await getJson(`/v1/sessions/${encodeURIComponent(id)}/events?after=${after}&limit=500`);
    for (const { event } of body.events) {
      if (event.type === 'stream_truncated') truncated = true;
      else if (event.type === 'token' || event.type === 'reasoning_token') count += 1;
      else if (event.type === 'complete') usage = event.usage;
    }
    if (body.events.length === 0 || body.next_after === after) break;
    after = body.next_after;
  }
  if (!truncated) return count;
  return typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : undefined;
}

/**
 * Start and end of an ended run, from the server: the scheduler's record of the run
 * (`GET …/status`) while it holds one, else the stored session (after a restart).
 */
export async function runTimes(getJson, id, runId) {
  try {
    const { status } = await getJson(`/v1/sessions/${encodeURIComponent(id)}/status`);
    if (status.runId === runId && status.endedAt) return { startedAt: ms(status.startedAt), endedAt: ms(status.endedAt) };
  } catch {
    // Read the stored session instead.
  }
  const { session } = await getJson(`/v1/sessions/${encodeURIComponent(id)}`);
  const run = storedRun(session);
  if (run.runId !== runId) return undefined;
  return { startedAt: run.queuedAt, endedAt: run.endedAt };
}

/** A whole row for a child whose run the stream does not have from its start. */
export async function loadStoredRow(getJson, id) {
  const { session } = await getJson(`/v1/sessions/${encodeURIComponent(id)}`);
  const run = storedRun(session);
  let startedAt = run.queuedAt;
  let endedAt = run.endedAt;
  try {
    const { status } = await getJson(`/v1/sessions/${encodeURIComponent(id)}/status`);
    if (status.runId === run.runId && status.startedAt) {
      startedAt = ms(status.startedAt);
      endedAt = ms(status.endedAt) ?? endedAt;
    }
  } catch {
    // The stored times stay.
  }
  const tokens = await storedTokens(getJson, id).catch(() => undefined);
  return {
    childSessionId: id,
    runId: run.runId,
    title: session.title,
    status: run.status,
    tokens,
    tools: run.tools,
    startedAt,
    endedAt,
    lastHeartbeatAt: undefined,
    answer: run.answer,
    error: run.error,
    reason: undefined,
    complete: false,
    fromStore: true,
    needsTimes: false,
    tail: [],
  };
}
