/* global setInterval, clearInterval */
// A run page at `#/runs/<runId>` (`GET /v1/runs/{runId}`): status and cause, times, tokens, a
// timeline of its states with durations, parent / root / children / other-run links, the
// prompt, the transcript and the run's events; cancel or retry it (`POST /v1/runs/bulk`).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { formatMs, formatTime, getJson, postJson } from './api.js';
import { causeText } from './causes.js';
import { hashOf, runHref } from './router.js';
import { describe } from './run-rows.js';
import { RunTable, StatusBadge, runDurationMs } from './run-table.js';

const html = htm.bind(h);
const LIVE = new Set(['queued', 'running']);

/** The children a run's last heartbeat said it waits on (`waiting_on`), if its last heartbeat said so. */
export function lastWaitingOn(events) {
  for (let i = events.length - 1; i >= 0; i--) {
    const { event } = events[i];
    if (event.type === 'sub_session_completed') return undefined;
    if (event.type === 'sub_session_heartbeat') return event.waiting_on?.length > 0 ? event.waiting_on : undefined;
  }
  return undefined;
}

function Timeline({ segments, now }) {
  const durations = segments.map((segment) => segment.duration_ms ?? (segment.to ? undefined : 0));
  const total = durations.reduce((sum, ms) => sum + (ms ?? 0), 0) || 1;
  return html`<div class="timeline" data-testid="timeline">
    <div class="timeline-bar">
      ${segments.map((segment, i) =>
        durations[i] > 0
          ? html`<span
              class=${`seg ${segment.state}`}
              style=${`flex-grow:${durations[i] / total}`}
              title=${`${segment.state} ${formatMs(durations[i])}`}
            ></span>`
          : null,
      )}
    </div>
    <ol class="segments">
      ${segments.map(
        (segment) =>
          html`<li data-testid="segment" data-state=${segment.state}>
            <span class=${`badge ${segment.state}`}>${segment.state}</span>
            <span class="mono">${formatTime(segment.from)}</span>
            ${segment.duration_ms !== undefined ? html`<strong>${formatMs(segment.duration_ms)}</strong>${segment.to ? '' : ' so far'}` : null}
            ${segment.waiting_on ? html`<span class="muted">on ${segment.waiting_on.map((id) => id.slice(0, 8)).join(', ')}</span>` : null}
          </li>`,
      )}
    </ol>
    <span class="muted">page drawn ${formatTime(new Date(now).toISOString())}</span>
  </div>`;
}

function Transcript({ messages }) {
  if (messages.length === 0) return html`<p class="empty">No messages (the session is gone, or has none yet).</p>`;
  return html`<ol class="transcript" data-testid="transcript">
    ${messages.map(
      (message) =>
        html`<li class=${`msg ${message.role}`}>
          <span class="role">${message.role}${message.tool_name ? ` · ${message.tool_name}` : ''}</span>
          ${message.content ? html`<pre>${message.content}</pre>` : null}
          ${(message.tool_calls ?? []).map(
            (call) =>
              html`<pre class="tool-call">
${call.function?.name ?? call.name}(${call.function?.arguments ?? JSON.stringify(call.arguments ?? {})})</pre>`,
          )}
        </li>`,
    )}
  </ol>`;
}

/**
 * @param {{ runId: string, causes: object, now: number }} props
 */
export function RunPage({ runId, causes, now }) {
  const [state, setState] = useState({ page: undefined, error: undefined });
  const [action, setAction] = useState(undefined);
  useEffect(() => {
    let live = true;
    let timer;
    setState({ page: undefined, error: undefined });
    const load = () =>
      getJson(`/v1/runs/${encodeURIComponent(runId)}`).then(
        (page) => {
          if (!live) return;
          setState({ page, error: undefined });
          if (!LIVE.has(page.run.status) && page.links.children.every((child) => !LIVE.has(child.status))) clearInterval(timer);
        },
        (error) => live && setState((old) => ({ ...old, error: String(error.message ?? error) })),
      );
    void load();
    timer = setInterval(load, 1500);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [runId]);
  const { page, error } = state;
  if (page === undefined)
    return html`<section class="run-page" data-testid="run-page">
      ${error ? html`<p class="error">${error}</p>` : html`<p>Loading run ${runId}…</p>`}
    </section>`;
  const { run, links } = page;
  const titles = new Map([[run.child_session_id, run.title], ...links.children.map((child) => [child.child_session_id, child.title])]);
  const nameOf = (id) => titles.get(id) ?? id.slice(0, 8);
  const waitingOn = lastWaitingOn(page.events);
  const cause = causeText({ runId: run.run_id, status: run.status, waitingOn }, causes, nameOf);
  const act = async (kind) => {
    setAction({ kind, pending: true });
    try {
      setAction({ kind, answer: await postJson('/v1/runs/bulk', { action: kind, runIds: [run.run_id] }) });
    } catch (failure) {
      setAction({ kind, error: String(failure.message ?? failure) });
    }
  };
  const outcome = action?.answer?.results?.[0];
  return html`<section class="run-page" data-testid="run-page" data-status=${run.status}>
    <p class="crumbs">
      <a href=${hashOf('/runs', {})}>runs</a> ›
      <a href=${hashOf('/tree', { root: links.root_session_id })} data-testid="root-tree">live tree</a> ·
      <a href=${hashOf('/runs', { root: links.root_session_id })}>runs of this tree</a> ›
      ${links.parent.run_id ? html`<a href=${runHref(links.parent.run_id)} data-testid="parent-run">parent run</a>` : html`<span>parent ${links.parent.session_id.slice(0, 8)}</span>`}
      ›
      <span>this run</span>
    </p>
    <h2 class="run-heading">
      <${StatusBadge} status=${run.status} waiting=${waitingOn !== undefined} />
      <span data-testid="run-title">${run.title ?? run.child_session_id}</span>
    </h2>
    ${cause ? html`<p class="cause big" data-testid="run-cause">${cause}</p>` : null}
    ${run.error ? html`<p class="error" data-testid="run-error">${run.error}</p>` : null}
    <dl class="facts">
      <dt>run</dt>
      <dd class="mono" data-testid="run-id">${run.run_id}</dd>
      <dt>session</dt>
      <dd class="mono">${run.child_session_id}</dd>
      <dt>model</dt>
      <dd>${run.model ?? '—'}</dd>
      <dt>announced</dt>
      <dd>${formatTime(run.created_at)}</dd>
      <dt>started</dt>
      <dd>${formatTime(run.started_at)}</dd>
      <dt>ended</dt>
      <dd>${formatTime(run.ended_at)}${run.reason ? html` <span class="reason">reason ${run.reason}</span>` : null}</dd>
      <dt>duration</dt>
      <dd data-testid="run-duration">${formatMs(runDurationMs(run, now))}</dd>
      <dt>tokens</dt>
      <dd data-testid="run-tokens">
        ${page.tokens ? `${page.tokens.total} (prompt ${page.tokens.prompt} · completion ${page.tokens.completion})` : '—'}
      </dd>
    </dl>
    <p class="run-actions">
      ${LIVE.has(run.status) ? html`<button data-testid="run-cancel" onClick=${() => void act('cancel')}>cancel run</button>` : null}
      ${run.status === 'error' || run.status === 'cancelled' ? html`<button data-testid="run-retry" onClick=${() => void act('retry')}>retry</button>` : null}
      ${action?.pending ? html`<span class="muted">${action.kind}…</span>` : null}
      ${outcome ? html`<span data-testid="run-action-result">${outcome.outcome}${outcome.detail ? ` (${outcome.detail})` : ''}${outcome.new_run_id ? html` → <a href=${runHref(outcome.new_run_id)}>new run</a>` : null}</span>` : null}
      ${action?.error ? html`<span class="error">${action.error}</span>` : null}
    </p>
    <h3>Timeline</h3>
    <${Timeline} segments=${page.timeline} now=${now} />
    <h3>Children <small>${links.children.length}</small></h3>
    ${links.children.length > 0 ? html`<${RunTable} runs=${links.children} causes=${causes} now=${now} />` : html`<p class="empty">No child runs.</p>`}
    ${
      links.other_runs.length > 0
        ? html`<h3>Other runs of this session</h3>
            <ul class="other-runs">
              ${links.other_runs.map((other) => html`<li><a href=${runHref(other.run_id)}>${other.run_id.slice(0, 8)}</a> <span class=${`badge ${other.status}`}>${other.status}</span> ${formatTime(other.created_at)}</li>`)}
            </ul>`
        : null
    }
    <h3>Prompt</h3>
    ${page.prompt ? html`<pre class="prompt" data-testid="run-prompt">${page.prompt}</pre>` : html`<p class="empty">—</p>`}
    <h3>Transcript <small>${page.transcript.length} messages</small></h3>
    <${Transcript} messages=${page.transcript} />
    <h3>Events <small>${page.events.length}${page.events_truncated ? ' (older ones dropped)' : ''}</small></h3>
    <ol class="tail" data-testid="run-events">
      ${page.events.map(({ seq, event }) => html`<li><span class="seq">${seq}</span> <span class="type">${event.type}</span> ${describe(event)}</li>`)}
    </ol>
  </section>`;
}
