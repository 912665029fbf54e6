/* global setInterval, clearInterval */
// The workers view at `#/workers` (`GET /v1/workers`, polled): in distributed mode each live
// worker — its name, address, how long it has been connected — and the runs it holds, each a
// link to its run page with its epoch and the time left on its lease (renewed every third of it).
// The embedded scheduler has no workers: the view says so.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { formatMs, getJson } from './api.js';
import { runHref } from './router.js';

const html = htm.bind(h);

/** `GET /v1/workers`, polled every 2 s: `{ answer, error }`. */
function useWorkers() {
  const [state, setState] = useState({ answer: undefined, error: undefined });
  useEffect(() => {
    let live = true;
    const load = () =>
      getJson('/v1/workers').then(
        (answer) => live && setState({ answer, error: undefined }),
        (error) => live && setState((old) => ({ ...old, error: String(error.message ?? error) })),
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return state;
}

function WorkerRows({ worker }) {
  const head = (rows) => [
    html`<td rowspan=${rows} data-label="worker" class="mono" data-testid="worker-name">${worker.name}</td>`,
    html`<td rowspan=${rows} data-label="address" class="mono">${worker.address ?? '—'}</td>`,
    html`<td rowspan=${rows} data-label="connected">${worker.age_ms === undefined ? 'not connected' : formatMs(worker.age_ms)}</td>`,
  ];
  if (worker.runs.length === 0)
    return html`<tr data-testid="worker-row" data-worker=${worker.name}>
      ${head(1)}
      <td data-label="run" class="muted" colspan="3">no runs</td>
    </tr>`;
  return worker.runs.map(
    (run, i) =>
      html`<tr data-testid="worker-row" data-worker=${worker.name}>
        ${i === 0 ? head(worker.runs.length) : null}
        <td data-label="run" class="mono"><a href=${runHref(run.run_id)} data-testid="worker-run">${run.run_id}</a></td>
        <td data-label="epoch">${run.epoch}</td>
        <td data-label="lease left" data-testid="lease-left">${formatMs(run.lease_ms_left)}</td>
      </tr>`,
  );
}

/** The workers view. */
export function WorkersView() {
  const { answer, error } = useWorkers();
  if (answer === undefined) return html`<p class="empty">${error ?? 'Loading workers…'}</p>`;
  if (!answer.available) return html`<p class="empty" data-testid="workers-unavailable">embedded mode: no workers</p>`;
  const runs = answer.workers.reduce((sum, worker) => sum + worker.runs.length, 0);
  return html`<section data-testid="workers-view">
    <p class="muted">
      ${answer.workers.length} worker${answer.workers.length === 1 ? '' : 's'} · ${runs} run${runs === 1 ? '' : 's'} held
      ${answer.truncated ? ' (owner keys read up to 10,000)' : ''}${error ? ` · ${error}` : ''}
    </p>
    ${
      answer.workers.length === 0
        ? html`<p class="empty">No worker is connected.</p>`
        : html`<table class="runs" data-testid="workers-table">
            <thead>
              <tr>
                <th>worker</th>
                <th>address</th>
                <th>connected</th>
                <th>run</th>
                <th>epoch</th>
                <th>lease left</th>
              </tr>
            </thead>
            <tbody>
              ${answer.workers.map((worker) => html`<${WorkerRows} worker=${worker} />`)}
            </tbody>
          </table>`
    }
  </section>`;
}
