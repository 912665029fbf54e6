/* global location, setInterval, clearInterval, URLSearchParams */
// The runs view: the run index (`GET /v1/runs?…`) with its filters kept in the URL
// (`#/runs?status=queued,running&q=…&cursor=…`, so a reload or a shared link shows the same
// page), totals by status, cursor paging, and multi-select bulk cancel / retry
// (`POST /v1/runs/bulk`, whose counts it shows).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { getJson, postJson } from './api.js';
import { hashOf } from './router.js';
import { RunTable } from './run-table.js';

const html = htm.bind(h);

/** The filters the view keeps in the URL, in the order of the form. */
export const FILTER_KEYS = ['status', 'reason', 'root', 'parent', 'model', 'since', 'until', 'q'];
const STATUSES = ['queued', 'running', 'completed', 'error', 'cancelled', 'skipped'];
const REASONS = ['', 'user', 'parent', 'timeout', 'idle', 'shutdown', 'deleted', 'crash'];
const PAGE = 50;
/** Filters behind "more filters" on a narrow screen (shown when one is set). */
const ADVANCED = ['root', 'parent', 'model', 'since', 'until'];
/** Totals count up to this many runs per status (`1000+` past it). */
const COUNT_CAP = 1000;

/** The filter of a route's parameters (only the keys it knows, non-empty). */
export function filterOf(params) {
  const filter = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

/** The `GET /v1/runs` URL of a filter (always in index mode: `limit` is given). */
export function runsQuery(filter, extra = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...filter, ...extra }))
    if (value !== undefined && value !== '') query.set(key, String(value));
  if (!query.has('limit')) query.set('limit', String(PAGE));
  return `/v1/runs?${query.toString()}`;
}

/** A datetime-local input's value for an RFC 3339 instant, and back. */
const toLocal = (iso) => {
  const at = new Date(iso ?? '');
  if (Number.isNaN(at.getTime())) return '';
  return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const fromLocal = (text) => (text ? new Date(text).toISOString() : '');

function Filters({ filter, onApply }) {
  const [draft, setDraft] = useState(filter);
  const [more, setMore] = useState(ADVANCED.some((key) => filter[key]));
  useEffect(() => setDraft(filter), [JSON.stringify(filter)]);
  const statuses = new Set((draft.status ?? '').split(',').filter(Boolean));
  const set = (key, value) => setDraft((previous) => ({ ...previous, [key]: value }));
  const toggleStatus = (status) => {
    const next = new Set(statuses);
    if (next.has(status)) next.delete(status);
    else next.add(status);
    const applied = { ...draft, status: STATUSES.filter((s) => next.has(s)).join(',') };
    setDraft(applied);
    onApply(applied);
  };
  const text = (key, label, placeholder = '') =>
    html`<label
      >${label}
      <input
        data-testid=${`filter-${key}`}
        value=${draft[key] ?? ''}
        placeholder=${placeholder}
        onInput=${(e) => set(key, e.currentTarget.value)}
    /></label>`;
  return html`<form
    class="filters"
    data-testid="filters"
    onSubmit=${(e) => {
      e.preventDefault();
      onApply(draft);
    }}
  >
    <fieldset class="statuses">
      <legend>status</legend>
      ${STATUSES.map(
        (status) =>
          html`<label class=${`chip ${statuses.has(status) ? 'on' : ''}`}
            ><input
              type="checkbox"
              data-testid=${`filter-status-${status}`}
              checked=${statuses.has(status)}
              onChange=${() => toggleStatus(status)}
            />
            ${status}</label
          >`,
      )}
    </fieldset>
    ${text('q', 'search', 'title or session id')}
    <label
      >reason
      <select
        data-testid="filter-reason"
        value=${draft.reason ?? ''}
        onChange=${(e) => onApply({ ...draft, reason: e.currentTarget.value })}
      >
        ${REASONS.map((reason) => html`<option value=${reason}>${reason === '' ? 'any' : reason}</option>`)}
      </select></label
    >
    <button type="button" class="more-toggle" data-testid="more-filters" onClick=${() => setMore(!more)}>
      ${more ? 'fewer filters' : 'more filters'}
    </button>
    <span class=${`more-filters ${more ? 'open' : ''}`}>
      ${text('root', 'root', 'session id')} ${text('parent', 'parent', 'session id')} ${text('model', 'model')}
      <label
        >since
        <input
          type="datetime-local"
          data-testid="filter-since"
          value=${toLocal(draft.since)}
          onInput=${(e) => set('since', fromLocal(e.currentTarget.value))}
      /></label>
      <label
        >until
        <input
          type="datetime-local"
          data-testid="filter-until"
          value=${toLocal(draft.until)}
          onInput=${(e) => set('until', fromLocal(e.currentTarget.value))}
      /></label>
    </span>
    <span class="form-actions">
      <button type="submit" data-testid="apply-filters">apply</button>
      <button type="button" onClick=${() => onApply({})}>clear</button>
    </span>
  </form>`;
}

/** `cancel: matched 3 · acted 2 · skipped 1 · failed 0` of a bulk answer. */
export const bulkSummary = (action, answer) =>
  `${action}: matched ${answer.matched} · acted ${answer.acted} · skipped ${answer.skipped} · failed ${answer.failed}${answer.truncated ? ' · truncated' : ''}`;

/** Runs per status for a filter (capped at {@link COUNT_CAP}), refreshed every few seconds. */
function useTotals(filter) {
  const [totals, setTotals] = useState(undefined);
  const key = JSON.stringify(filter);
  useEffect(() => {
    let live = true;
    const wanted = filter.status ? filter.status.split(',') : STATUSES;
    const load = async () => {
      const counts = await Promise.all(
        wanted.map((status) =>
          getJson(runsQuery({ ...filter, status }, { limit: COUNT_CAP })).then((body) => [status, body.runs, body.next_cursor !== null]),
        ),
      );
      if (!live) return;
      setTotals(
        counts.map(([status, runs, more]) => ({
          status,
          count: runs.length,
          more,
          tokens: runs.reduce((sum, run) => sum + (run.total_tokens ?? 0), 0),
        })),
      );
    };
    void load().catch(() => {});
    const timer = setInterval(() => void load().catch(() => {}), 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [key]);
  return totals;
}

/**
 * @param {{ params: URLSearchParams, causes: object, now: number }} props
 */
export function RunsView({ params, causes, now }) {
  const filter = filterOf(params);
  const cursor = params.get('cursor') ?? undefined;
  const [page, setPage] = useState({ runs: [], next: null, error: undefined, loaded: false });
  const [selected, setSelected] = useState(new Set());
  const [bulk, setBulk] = useState(undefined);
  const [previous, setPrevious] = useState([]);
  const totals = useTotals(filter);
  const key = `${JSON.stringify(filter)}|${cursor ?? ''}`;

  useEffect(() => {
    let live = true;
    const load = () =>
      getJson(runsQuery(filter, cursor ? { cursor } : {})).then(
        (body) => live && setPage({ runs: body.runs, next: body.next_cursor, error: undefined, loaded: true }),
        (error) => live && setPage((old) => ({ ...old, error: String(error.message ?? error), loaded: true })),
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [key]);

  const go = (nextFilter, nextCursor) => {
    location.hash = hashOf('/runs', { ...nextFilter, cursor: nextCursor });
  };
  const apply = (nextFilter) => {
    setPrevious([]);
    setSelected(new Set());
    go(nextFilter, undefined);
  };
  const toggle = (runId) =>
    setSelected((old) => {
      const next = new Set(old);
      if (next.has(runId)) next.delete(runId);
      else next.add(runId);
      return next;
    });
  const toggleAll = () =>
    setSelected((old) => (page.runs.every((run) => old.has(run.run_id)) ? new Set() : new Set(page.runs.map((run) => run.run_id))));
  const act = async (action) => {
    setBulk({ action, pending: true });
    try {
      const answer = await postJson('/v1/runs/bulk', { action, runIds: [...selected] });
      setBulk({ action, answer });
      setSelected(new Set());
    } catch (error) {
      setBulk({ action, error: String(error.message ?? error) });
    }
  };
  const pageTokens = page.runs.reduce((sum, run) => sum + (run.total_tokens ?? 0), 0);

  return html`<section class="runs-view" data-testid="runs-view">
    <${Filters} filter=${filter} onApply=${apply} />
    <div class="totals" data-testid="totals">
      ${
        totals === undefined
          ? html`<span class="empty">counting…</span>`
          : totals.map(
              ({ status, count, more, tokens }) =>
                html`<button
                  class=${`total ${status}`}
                  data-testid=${`total-${status}`}
                  data-count=${count}
                  title=${`${tokens} tokens`}
                  onClick=${() => apply({ ...filter, status })}
                >
                  <span class=${`badge ${status}`}>${status}</span> ${count}${more ? '+' : ''}
                </button>`,
            )
      }
      ${totals ? html`<span class="muted">· ${totals.reduce((sum, t) => sum + t.tokens, 0)} tokens</span>` : null}
    </div>
    <div class="bulk" data-testid="bulk">
      <span>${selected.size} selected</span>
      <button data-testid="bulk-cancel" disabled=${selected.size === 0} onClick=${() => void act('cancel')}>cancel selected</button>
      <button data-testid="bulk-retry" disabled=${selected.size === 0} onClick=${() => void act('retry')}>retry selected</button>
      ${
        bulk?.pending
          ? html`<span class="muted">${bulk.action}…</span>`
          : bulk?.answer
            ? html`<span class="bulk-result" data-testid="bulk-result" data-acted=${bulk.answer.acted} data-matched=${bulk.answer.matched}
                >${bulkSummary(bulk.action, bulk.answer)}</span
              >`
            : bulk?.error
              ? html`<span class="error" data-testid="bulk-result">${bulk.action} failed: ${bulk.error}</span>`
              : null
      }
    </div>
    ${page.error ? html`<p class="error" data-testid="runs-error">${page.error}</p>` : null}
    ${page.loaded && page.runs.length === 0 && !page.error ? html`<p class="empty">No run matches.</p>` : null}
    <${RunTable}
      runs=${page.runs}
      causes=${causes}
      now=${now}
      selected=${selected}
      onToggle=${toggle}
      onToggleAll=${toggleAll}
      onFilter=${(name, value) => apply({ ...filter, [name]: value })}
    />
    <nav class="pager" data-testid="pager">
      <span class="muted">${page.runs.length} runs on this page · ${pageTokens} tokens</span>
      <button
        data-testid="page-first"
        disabled=${cursor === undefined}
        onClick=${() => {
          setPrevious([]);
          go(filter, undefined);
        }}
      >
        first
      </button>
      <button
        data-testid="page-prev"
        disabled=${cursor === undefined}
        onClick=${() => {
          const back = previous.slice(0, -1);
          setPrevious(back);
          go(filter, previous.at(-1));
        }}
      >
        previous
      </button>
      <button
        data-testid="page-next"
        disabled=${!page.next}
        onClick=${() => {
          setPrevious([...previous, cursor]);
          go(filter, page.next);
        }}
      >
        next
      </button>
    </nav>
  </section>`;
}
