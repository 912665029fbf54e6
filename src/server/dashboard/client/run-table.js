// A table of indexed runs (`GET /v1/runs?…` records): status, title (a link to the run page),
// the cause of a live run, model, times, tokens, reason or error; optional row selection. Rows
// turn into cards on a narrow screen (style.css).
import { h } from 'preact';
import htm from 'htm';
import { formatMs, formatTime } from './api.js';
import { causeText } from './causes.js';
import { runHref } from './router.js';

const html = htm.bind(h);

/** A run's duration: announced (or started) to ended, or to `now` while it is live. */
export function runDurationMs(run, now) {
  const from = Date.parse(run.started_at ?? run.created_at);
  const to = run.ended_at ? Date.parse(run.ended_at) : now;
  return Number.isNaN(from) || Number.isNaN(to) ? undefined : Math.max(0, to - from);
}

/** The status badge of a run (`waiting` when a live run waits on its children). */
export function StatusBadge({ status, waiting }) {
  const shown = waiting && status === 'running' ? 'waiting' : status;
  return html`<span class=${`badge ${shown}`} data-testid="status">${shown}</span>`;
}

/**
 * @param {{ runs: object[], causes: object, now: number, selected?: Set<string>, onToggle?: (runId) => void, onToggleAll?: () => void, onFilter?: (key, value) => void }} props
 */
export function RunTable({ runs, causes, now, selected, onToggle, onToggleAll, onFilter }) {
  const selectable = selected !== undefined;
  const titles = new Map(runs.map((run) => [run.child_session_id, run.title]));
  const nameOf = (id) => titles.get(id) ?? id.slice(0, 8);
  return html`<table class="runs" data-testid="runs-table">
    <thead>
      <tr>
        ${
          selectable
            ? html`<th>
                <input
                  type="checkbox"
                  aria-label="select all on this page"
                  data-testid="select-all"
                  checked=${runs.length > 0 && runs.every((run) => selected.has(run.run_id))}
                  onChange=${onToggleAll}
                />
              </th>`
            : null
        }
        <th>status</th>
        <th>run</th>
        <th>cause / outcome</th>
        <th>model</th>
        <th>announced</th>
        <th>duration</th>
        <th>tokens</th>
        <th>parent</th>
      </tr>
    </thead>
    <tbody>
      ${runs.map((run) => {
        const cause = causeText({ runId: run.run_id, status: run.status }, causes, nameOf);
        const live = causes.byRun.get(run.run_id);
        return html`<tr
          key=${run.run_id}
          data-testid=${`run-${run.run_id}`}
          data-status=${run.status}
          class=${selectable && selected.has(run.run_id) ? 'picked' : ''}
        >
          ${
            selectable
              ? html`<td class="pick">
                  <input
                    type="checkbox"
                    aria-label=${`select ${run.title ?? run.run_id}`}
                    data-testid=${`select-${run.run_id}`}
                    checked=${selected.has(run.run_id)}
                    onChange=${() => onToggle(run.run_id)}
                  />
                </td>`
              : null
          }
          <td data-label="status"><${StatusBadge} status=${run.status} waiting=${live?.state === 'waiting'} /></td>
          <td data-label="run" class="run-title">
            <a href=${runHref(run.run_id)} data-testid="run-link">${run.title ?? run.child_session_id}</a>
            <small class="mono">${run.run_id.slice(0, 8)}</small>
          </td>
          <td data-label="cause" class="cause-cell">
            ${cause ? html`<span class="cause" data-testid="cause">${cause}</span>` : null}
            ${run.reason ? html`<span class="reason">reason ${run.reason}</span>` : null}
            ${run.error ? html`<span class="error" title=${run.error}>${run.error.slice(0, 80)}</span>` : null}
          </td>
          <td data-label="model">${run.model ?? '—'}</td>
          <td data-label="announced">${formatTime(run.created_at)}</td>
          <td data-label="duration" class="num">${formatMs(runDurationMs(run, now))}</td>
          <td data-label="tokens" class="num">${run.total_tokens ?? '—'}</td>
          <td data-label="parent">
            ${
              onFilter
                ? html`<button class="link" title="only runs of this parent" onClick=${() => onFilter('parent', run.parent_session_id)}>
                    ${nameOf(run.parent_session_id)}
                  </button>`
                : nameOf(run.parent_session_id)
            }
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}
