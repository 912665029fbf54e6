/* global fetch, setInterval, clearInterval, URLSearchParams, location, document */
// The Sprout dashboard: live session tree (collapsible, per-subtree totals, the cause of every
// live state), per-run job-machine state, event tail, cancel buttons, the job and scheduler
// statecharts with the live state highlighted; the runs view (`#/runs?…`: filters in the URL,
// paging, bulk cancel and retry), run pages (`#/runs/<runId>`) and the workers view
// (`#/workers`). Served by `sprout serve` from the package (Preact + htm + ELK, no CDN), so it
// works offline.
import { h, render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { getJson } from './api.js';
import { causeText, useCauses } from './causes.js';
import { hashOf, useRoute } from './router.js';
import { RunPage } from './run-page.js';
import { RunsView } from './runs-view.js';
import { WorkersView } from './workers-view.js';
import { applyEvent, derivedStates, emptyModel } from './run-rows.js';
import { SessionTree } from './session-tree.js';
import { connectSse } from './sse-client.js';
import { loadStoredRow, runTimes } from './stored-rows.js';
import { Statechart } from './statechart.js';

const html = htm.bind(h);

function useTick(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** Roots per page of the picker (most recent activity first). */
const ROOTS_PAGE = 50;
/** Sessions per request when reading the selected root's tree. */
const TREE_PAGE = 500;

/** Stored-session reads at once (rows whose events retention dropped). */
const STORED_READS = 4;

/** Every page of a listing, following `next_cursor`. */
async function getAllPages(path) {
  const sessions = [];
  let cursor = null;
  do {
    const body = await getJson(cursor === null ? path : `${path}&cursor=${encodeURIComponent(cursor)}`);
    sessions.push(...body.sessions);
    cursor = body.next_cursor ?? null;
  } while (cursor !== null);
  return sessions;
}

/** The views, linked from every header. */
function Nav({ view, rootId }) {
  return html`<nav class="views" data-testid="nav">
    <a href=${hashOf('/tree', rootId ? { root: rootId } : {})} class=${view === 'tree' ? 'on' : ''} data-testid="nav-tree">tree</a>
    <a href=${hashOf('/runs', {})} class=${view === 'runs' ? 'on' : ''} data-testid="nav-runs">runs</a>
    <a href=${hashOf('/workers', {})} class=${view === 'workers' ? 'on' : ''} data-testid="nav-workers">workers</a>
  </nav>`;
}

/** Indexed runs of one tree (`GET /v1/runs?root=…`), the newest run of each child session; empty without a run index. */
function useTreeRuns(rootId) {
  const [runs, setRuns] = useState(new Map());
  useEffect(() => {
    if (rootId === undefined) return undefined;
    let live = true;
    setRuns(new Map());
    const load = () =>
      getJson(`/v1/runs?root=${encodeURIComponent(rootId)}&limit=1000`).then(
        (body) => {
          if (!live) return;
          const latest = new Map();
          for (const run of body.runs) if (!latest.has(run.child_session_id)) latest.set(run.child_session_id, run);
          setRuns(latest);
        },
        () => {},
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [rootId]);
  return runs;
}

function App() {
  const route = useRoute();
  const causes = useCauses();
  if (route.view === 'tree') return html`<${TreeView} params=${route.params} causes=${causes} />`;
  return html`<${PageView} route=${route} causes=${causes} />`;
}

/** The runs view, a run page or the workers view, under the header. */
function PageView({ route, causes }) {
  const now = useTick(1000);
  return html`<div class="page">
    <header>
      <h1>Sprout</h1>
      <${Nav} view=${route.view} />
    </header>
    <main class="page-body">
      ${
        route.view === 'run'
          ? html`<${RunPage} runId=${route.runId} causes=${causes} now=${now} />`
          : route.view === 'workers'
            ? html`<${WorkersView} />`
            : html`<${RunsView} params=${route.params} causes=${causes} now=${now} />`
      }
    </main>
  </div>`;
}

function TreeView({ params, causes }) {
  // The picker's roots: the first page is polled, older pages are fetched on demand.
  const [roots, setRoots] = useState([]);
  const [olderRoots, setOlderRoots] = useState({ sessions: [], cursor: undefined }); // cursor undefined: none loaded yet
  const [rootsCursor, setRootsCursor] = useState(null);
  // The selected root's tree only (fetched when a root is selected, then polled).
  const [treeSessions, setTreeSessions] = useState([]);
  const [rootId, setRootId] = useState(params.get('root') ?? new URLSearchParams(location.search).get('root') ?? undefined);
  const [collapsed, setCollapsed] = useState(new Set());
  const [selected, setSelected] = useState(undefined);
  const [machines, setMachines] = useState(undefined);
  const [runStates, setRunStates] = useState({ tracked: false, scheduler: [], runs: new Map() });
  const [conn, setConn] = useState({ state: 'connecting', lastId: undefined, gaps: 0, duplicates: 0, reconnects: 0, events: 0 });
  const [version, setVersion] = useState(0);
  const model = useRef(emptyModel());
  // Rows read from stored child sessions, by id: { key (the session's run and last save), row }.
  const stored = useRef(new Map());
  const readQueue = useRef({ queue: [], workers: 0 });
  const now = useTick(500);
  const treeRuns = useTreeRuns(rootId);

  // Roots: one page, most recent activity first, polled (the server pages; nothing reads every session).
  useEffect(() => {
    let live = true;
    const load = () =>
      getJson(`/v1/sessions?kind=root&order=recent&limit=${ROOTS_PAGE}`).then(
        (body) => {
          if (!live) return;
          setRoots(body.sessions);
          setRootsCursor(body.next_cursor ?? null);
        },
        () => {},
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);

  const loadOlderRoots = async () => {
    const cursor = olderRoots.cursor === undefined ? rootsCursor : olderRoots.cursor;
    if (cursor === null) return;
    const body = await getJson(`/v1/sessions?kind=root&order=recent&limit=${ROOTS_PAGE}&cursor=${encodeURIComponent(cursor)}`);
    setOlderRoots((previous) => ({ sessions: [...previous.sessions, ...body.sessions], cursor: body.next_cursor ?? null }));
  };

  useEffect(() => {
    if (rootId === undefined && roots.length > 0) setRootId(roots[0].id);
  }, [roots, rootId]);

  // The selected root's tree: its sessions only (the store is the source of truth; events make it live).
  useEffect(() => {
    if (rootId === undefined) return undefined;
    let live = true;
    setTreeSessions([]);
    const load = () =>
      getAllPages(`/v1/sessions?root=${encodeURIComponent(rootId)}&limit=${TREE_PAGE}`).then(
        (sessions) => live && setTreeSessions(sessions),
        () => {},
      );
    void load();
    const timer = setInterval(load, 1000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [rootId]);

  useEffect(() => {
    getJson('/v1/machines').then(setMachines, () => {});
  }, []);

  // Live job-machine states from the scheduler's inspection.
  useEffect(() => {
    const client = connectSse('/v1/runs/stream', {
      resumable: false,
      onFrame: (frame) => {
        const data = JSON.parse(frame.data);
        if (frame.event === 'runs') {
          setRunStates({ tracked: data.tracked, scheduler: data.scheduler, runs: new Map(data.runs.map((run) => [run.runId, run])) });
        } else if (frame.event === 'run') {
          setRunStates((previous) => {
            if (data.runId === '') return { ...previous, scheduler: data.states };
            const runs = new Map(previous.runs);
            runs.set(data.runId, data);
            return { ...previous, runs };
          });
        }
      },
    });
    return () => client.close();
  }, []);

  // The selected root's event stream: resumable, checked for gaps and duplicates.
  useEffect(() => {
    if (rootId === undefined) return undefined;
    model.current = emptyModel();
    stored.current = new Map();
    readQueue.current.queue = [];
    let events = 0;
    const client = connectSse(`/v1/sessions/${encodeURIComponent(rootId)}/events`, {
      onState: (state) => setConn((previous) => ({ ...previous, state })),
      onFrame: (frame) => {
        const event = JSON.parse(frame.data);
        applyEvent(model.current, Number(frame.id), event);
        events += 1;
        if (event.type === 'sub_session_completed') void refineTimes(event.child_session_id, event.run_id);
        setConn((previous) => ({ ...previous, ...client.stats(), events }));
        setVersion((v) => v + 1);
      },
    });
    // An ended run's start and end, from the server: never the moment this page saw the event
    // (a replay after a restart sees every completion at once).
    const refineTimes = async (childId, runId) => {
      try {
        const times = await runTimes(getJson, childId, runId);
        const row = model.current.rows.get(childId);
        if (!times || !row || row.runId !== runId) return;
        if (times.startedAt !== undefined && (row.startedAt === undefined || !row.complete)) row.startedAt = times.startedAt;
        if (times.endedAt !== undefined) row.endedAt = times.endedAt;
        row.needsTimes = false;
        setVersion((v) => v + 1);
      } catch {
        // The row shows no duration rather than a guessed one.
      }
    };
    return () => client.close();
  }, [rootId]);

  // Children whose run the stream does not show from its start (sub_session_started or first heartbeat) (retention dropped its events, or
  // a grandchild, whose events travel on its own parent's stream): read from the stored session,
  // once per run and save, a few at a time.
  useEffect(() => {
    if (conn.state !== 'live' && model.current.seq === 0) return;
    const reads = readQueue.current;
    for (const session of treeSessions) {
      if (session.kind !== 'child' || model.current.rows.get(session.id)?.complete) continue;
      const key = `${session.metadata?.last_run_id ?? ''}:${session.updated_at}`;
      const cached = stored.current.get(session.id);
      if (cached !== undefined && (cached.key === key || cached.loading)) continue;
      stored.current.set(session.id, { ...cached, key, loading: true });
      reads.queue.push({ id: session.id, key, generation: stored.current });
    }
    const work = async () => {
      reads.workers += 1;
      for (let item = reads.queue.shift(); item !== undefined; item = reads.queue.shift()) {
        try {
          const row = await loadStoredRow(getJson, item.id);
          item.generation.set(item.id, { key: item.key, loading: false, row });
        } catch {
          item.generation.set(item.id, { ...item.generation.get(item.id), key: undefined, loading: false });
        }
        setVersion((v) => v + 1);
      }
      reads.workers -= 1;
    };
    while (reads.workers < STORED_READS && reads.queue.length > 0) void work();
  }, [treeSessions, conn.state]);

  const rows = model.current.rows;
  /** The row of a session: the stream's when it has the run from its start, else the stored session's (with what the stream still has). */
  const rowOf = (id) => {
    const fromStream = rows.get(id);
    if (fromStream?.complete) return fromStream;
    const fromStore = stored.current.get(id)?.row;
    if (fromStore === undefined) return fromStream;
    if (fromStream === undefined || fromStream.runId !== fromStore.runId) return fromStore;
    return {
      ...fromStream,
      tokens: fromStore.tokens,
      tools: fromStore.tools,
      startedAt: fromStore.startedAt,
      endedAt: fromStream.endedAt ?? fromStore.endedAt,
      answer: fromStream.answer ?? fromStore.answer,
      error: fromStream.error ?? fromStore.error,
      fromStore: true,
    };
  };
  const directChildren = treeSessions.filter((session) => session.parent_session_id === rootId);
  const fromEvents = directChildren.filter((session) => rows.get(session.id)?.complete).length;
  const truncatedAt = model.current.truncatedAt;
  const statesOf = (row) => {
    const tracked = runStates.runs.get(row.runId);
    return tracked ? tracked.states : derivedStates(row);
  };
  const selectedId = selected ?? rootId;
  const selectedRow = selectedId ? rowOf(selectedId) : undefined;
  const tail = useMemo(() => {
    const all = model.current.tail;
    const picked = selectedId === rootId ? all : all.filter((entry) => entry.child === selectedId);
    return picked.slice(-40);
  }, [version, selectedId, rootId]);

  const cancel = async (id, tree) => {
    await fetch(`/v1/sessions/${encodeURIComponent(id)}/cancel`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tree ? { tree: true } : {}),
    });
  };

  const titles = new Map(treeSessions.map((session) => [session.id, session.title]));
  const nameOf = (id) => titles.get(id) ?? id.slice(0, 8);
  const causeOf = (row) =>
    row ? causeText({ runId: row.runId, status: row.status, waitingOn: row.waitingOn }, causes, nameOf) : undefined;
  const toggle = (id) =>
    setCollapsed((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const pickable = [...roots, ...olderRoots.sessions.filter((old) => !roots.some((root) => root.id === old.id))];
  const selectedRoot = treeSessions.find((session) => session.id === rootId);
  if (selectedRoot && !pickable.some((root) => root.id === rootId)) pickable.push(selectedRoot);
  const moreRoots = (olderRoots.cursor === undefined ? rootsCursor : olderRoots.cursor) !== null;
  const activeJob = selectedRow ? statesOf(selectedRow) : [];
  return html`<div class="layout">
    <header>
      <h1>Sprout</h1>
      <${Nav} view="tree" rootId=${rootId} />
      <label
        >root
        <select
          data-testid="root-picker"
          value=${rootId ?? ''}
          onChange=${(e) => (setRootId(e.currentTarget.value), setSelected(undefined), setCollapsed(new Set()))}
        >
          ${pickable.map((root) => html`<option value=${root.id}>${root.title} · ${root.id.slice(0, 8)}</option>`)}
        </select></label
      >
      ${moreRoots ? html`<button data-testid="older-roots" onClick=${() => void loadOlderRoots().catch(() => {})}>older roots</button>` : null}
      <span
        class=${`conn ${conn.state}`}
        data-testid="conn"
        data-state=${conn.state}
        data-last-id=${conn.lastId ?? ''}
        data-gaps=${conn.gaps}
        data-duplicates=${conn.duplicates}
        data-reconnects=${conn.reconnects}
        data-truncated-at=${truncatedAt ?? ''}
      >
        ${[
          `${conn.state} · last id ${conn.lastId ?? '—'} · ${conn.events} events`,
          truncatedAt === undefined ? `gaps ${conn.gaps}` : `events before #${truncatedAt} dropped by retention`,
          `duplicates ${conn.duplicates} · reconnects ${conn.reconnects}`,
        ].join(' · ')}
      </span>
      ${
        truncatedAt !== undefined
          ? html`<p class="coverage" data-testid="coverage" data-shown=${fromEvents} data-total=${directChildren.length}>
              Showing ${fromEvents} of ${directChildren.length} runs from the event stream: older events were dropped by retention (the
              stream now starts at #${truncatedAt}).
              ${
                directChildren.length > fromEvents
                  ? `The other ${directChildren.length - fromEvents} rows (marked “stored”) are read from the stored sessions: outcome, answer, tokens and times, without their event tail.`
                  : ''
              }
            </p>`
          : null
      }
    </header>
    <section class="left">
      <h2>Sessions</h2>
      ${treeSessions.length === 0 ? html`<p class="empty">No sessions yet. Create one with <code>POST /v1/sessions</code>.</p>` : null}
      <${SessionTree}
        sessions=${treeSessions}
        rowOf=${rowOf}
        statesOf=${statesOf}
        runOf=${(id) => treeRuns.get(id)}
        causeOf=${causeOf}
        collapsed=${collapsed}
        onToggle=${toggle}
        selected=${selectedId}
        onSelect=${setSelected}
        onCancel=${cancel}
        now=${now}
      />
      <h2>
        Events
        ${selectedId && selectedId !== rootId ? html`<small>of ${rowOf(selectedId)?.title ?? selectedId}</small>` : html`<small>of the root stream</small>`}
      </h2>
      <ol class="tail" data-testid="tail">
        ${tail.map((entry) => html`<li><span class="seq">${entry.seq}</span> <span class="type">${entry.type}</span> ${entry.text}</li>`)}
      </ol>
    </section>
    <section class="right">
      ${
        selectedRow
          ? html`<div class="detail" data-testid="detail">
              <strong>${selectedRow.title}</strong> · run
              <a href=${`#/runs/${encodeURIComponent(selectedRow.runId)}`} data-testid="detail-run-link"
                >${selectedRow.runId.slice(0, 8)}</a
              >
              ·
              <span data-testid="detail-status">${selectedRow.status}</span>
              ${selectedRow.answer ? html`<p class="answer">${selectedRow.answer}</p>` : null}
              ${selectedRow.error ? html`<p class="error">${selectedRow.error}</p>` : null}
            </div>`
          : html`<div class="detail">Select a child to highlight its run in the job machine.</div>`
      }
      ${
        machines
          ? html`<${Statechart}
                graph=${machines.job}
                active=${activeJob}
                title=${`job machine${selectedRow ? ` · ${selectedRow.title}` : ''}${runStates.tracked ? '' : ' (states from events)'}`}
                testid="job-chart"
              />
              <${Statechart}
                graph=${machines.scheduler}
                active=${runStates.scheduler}
                title="scheduler machine"
                testid="scheduler-chart"
              />`
          : html`<p>Loading machine definitions…</p>`
      }
    </section>
  </div>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
