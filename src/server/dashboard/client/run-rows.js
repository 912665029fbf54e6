// Folds a parent's event stream into one row per child run: status, tokens, tool calls, last
// heartbeat, timings, answer or error, and a tail of the child's events. Times come from the
// server (heartbeat timestamps, then the run's status or stored session), never from the moment
// the page happened to see an event: a replay after a restart must not stretch a 2 s run.

const TAIL = 60;

/** A fresh, empty model. */
export function emptyModel() {
  return { rows: new Map(), tail: [], seq: 0, truncatedAt: undefined };
}

/** The job-machine states a run is in, as far as its events tell (used without inspection). */
export function derivedStates(row) {
  if (!row) return [];
  if (row.status === 'queued') return ['spawnJob.loading'];
  if (row.status === 'running' && row.waitingOn)
    return ['spawnJob.running', 'spawnJob.running.slot', 'spawnJob.running.slot.waiting', 'spawnJob.running.idleWatch'];
  if (row.status === 'running')
    return ['spawnJob.running', 'spawnJob.running.slot', 'spawnJob.running.slot.held', 'spawnJob.running.idleWatch'];
  return [`spawnJob.${row.status}`];
}

/** A row for a run the stream shows from its start (`complete`), or from part-way (retention dropped its start). */
function newRow(id, runId, title, status, complete) {
  return {
    childSessionId: id,
    runId,
    title: title ?? id,
    status,
    tokens: 0,
    tools: 0,
    startedAt: undefined,
    endedAt: undefined,
    lastHeartbeatAt: undefined,
    answer: undefined,
    error: undefined,
    reason: undefined,
    // False when neither the run's sub_session_started nor its first heartbeat was seen: its
    // counts are partial, and its counts and times are read from the stored session.
    complete,
    // Set once the run ended: its start and end are read from the server (status, then store).
    needsTimes: false,
    tail: [],
  };
}

/**
 * Applies one envelope (seq + wire event) to the model, in place. No browser clock: times are
 * the server's (heartbeat timestamps here; the end from the run's status, see `needsTimes`).
 * @returns the model
 */
export function applyEvent(model, seq, event) {
  model.seq = seq;
  const entry = { seq, type: event.type, child: event.child_session_id, text: describe(event) };
  model.tail.push(entry);
  if (model.tail.length > 400) model.tail.splice(0, model.tail.length - 400);
  if (event.type === 'stream_truncated') {
    model.truncatedAt = event.first_retained_seq;
    return model;
  }
  const id = event.child_session_id;
  if (!id) return model;
  let row = model.rows.get(id);
  if (event.type === 'sub_session_started') {
    model.rows.set(id, newRow(id, event.run_id, event.title, 'queued', true));
    return model;
  }
  if (!row || (row.runId !== event.run_id && !row.complete)) {
    // Retention dropped this run's start: keep what the stream still has, marked partial.
    row = newRow(id, event.run_id, undefined, event.type === 'sub_session_completed' ? event.status : 'running', false);
    model.rows.set(id, row);
  }
  if (row.runId !== event.run_id) return model;
  row.tail.push(entry);
  if (row.tail.length > TAIL) row.tail.shift();
  if (event.type === 'sub_session_heartbeat') {
    // Server time: right on a replay too, not just for events that arrive live. The first
    // heartbeat goes out as the run starts running.
    const at = Date.parse(event.timestamp);
    if (row.status === 'queued') row.status = 'running';
    // A run waiting for its children holds no slot; its heartbeats name what it waits on.
    row.waitingOn = Array.isArray(event.waiting_on) && event.waiting_on.length > 0 ? event.waiting_on : undefined;
    // The run's first heartbeat (it goes out as the run starts, before any event of it): every
    // later event of the run is in the stream too, even when retention dropped its start.
    if (!row.complete && event.events_seen === 0 && row.tokens === 0 && row.tools === 0) row.complete = true;
    if (!Number.isNaN(at)) {
      if (row.complete) row.startedAt ??= at;
      row.lastHeartbeatAt = at;
    }
  } else if (event.type === 'sub_session_event') {
    const inner = event.event;
    if (inner.type === 'token' || inner.type === 'reasoning_token') row.tokens += 1;
    if (inner.type === 'tool_start') row.tools += 1;
  } else if (event.type === 'sub_session_completed') {
    row.status = event.status;
    row.waitingOn = undefined;
    row.needsTimes = true;
    row.answer = event.result;
    row.error = event.error;
    row.reason = event.reason;
  }
  return model;
}

/** One line of text for an event in the tail. */
export function describe(event) {
  switch (event.type) {
    case 'sub_session_started':
      return `started “${event.title ?? ''}”`;
    case 'sub_session_heartbeat':
      return `heartbeat · ${event.events_seen} events${event.waiting_on ? ` · waiting for ${event.waiting_on.length} child(ren), slot given back` : ''}`;
    case 'sub_session_completed':
      return `${event.status}${event.reason ? ` (${event.reason})` : ''}${event.error ? ` · ${event.error}` : ''}${event.result ? ` · “${event.result.slice(0, 80)}”` : ''}`;
    case 'sub_session_event':
      return `${event.event.type} ${describeInner(event.event)}`;
    case 'stream_truncated':
      return `stream truncated: events before ${event.first_retained_seq} are gone`;
    default:
      return describeInner(event);
  }
}

function describeInner(event) {
  switch (event.type) {
    case 'token':
    case 'reasoning_token':
      return JSON.stringify(event.content);
    case 'tool_start':
      return `${event.tool_name}(${JSON.stringify(event.arguments).slice(0, 60)})`;
    case 'tool_complete':
      return `→ ${typeof event.result === 'object' && event.result ? event.result.result : JSON.stringify(event.result)}`.slice(0, 100);
    case 'tool_error':
      return `✖ ${event.error}`;
    case 'complete':
      return `usage ${JSON.stringify(event.usage)}`;
    case 'error':
      return event.message;
    default:
      return '';
  }
}

/** `1.2s`, `3m 4s`. */
export function duration(ms) {
  if (ms === undefined || ms < 0) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}
