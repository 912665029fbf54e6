/**
 * Migration 6: `<schema>.append_events(...)`, the server-side function that writes one batch of
 * the event log in ONE statement (issue 19: an append never holds locks across client round
 * trips). Part of a shipped migration: never edit it; replace the function in a new migration.
 *
 * Inputs are arrays aligned with the batch (call order), built by `PostgresGroupCommitWriter`:
 * `p_sessions`, `p_events` (the envelopes' `json`), the ownership tokens (`p_fence_runs`,
 * `p_fence_epochs`, null without one), the open-run walk (`p_walk`: `open` for a
 * `sub_session_started`, `check` for a run's event or heartbeat, `close` for its completion,
 * each with its `p_run_ids`), and `p_effects` (the run ledger and run index change of the append,
 * its seq filled in here). Then `p_open_runs` (the log's `fenceRuns`), `p_retention`, what this
 * process already pruned (`p_known_ids`, `p_known_through`) and the `NOTIFY` channel (null: none).
 *
 * In order, as one transaction: fence rows `FOR SHARE` (a stale token: `lost`); with
 * `p_open_runs`, the open runs `FOR SHARE` and the walk in call order (a `sub_session_started`
 * opens its run, a completion closes it, a run's event while it is not open is refused); the
 * `event_seqs` bump of each session (byte order, contiguous seqs in call order); the events (when
 * retention keeps any); the ledger changes in call order; the run index (announces, then every
 * running / usage / end change folded per run: its first start before any end, its last usage, its
 * last end); pruning of rows beyond retention once they exceed it by a tenth; one `pg_notify`
 * per session, in order of first append (payloads over 7900 bytes are not sent). Nothing is
 * written when every append is refused.
 *
 * Returns `seqs` (aligned; null for a refused append), `lost` (aligned; true when its token was
 * stale, else a refused append's run was not open) and the sessions pruned, with their seq.
 *
 * @example
 * POSTGRES_MIGRATIONS[5]('"sprout"') === appendEventsFunction('"sprout"'); // true
 */
export function appendEventsFunction(s: string): string {
  return `
    CREATE FUNCTION ${s}.append_events(
      p_sessions text[], p_events json[], p_fence_runs text[], p_fence_epochs numeric[],
      p_walk text[], p_run_ids text[], p_effects json[],
      p_open_runs boolean, p_retention integer, p_known_ids text[], p_known_through bigint[], p_channel text,
      OUT seqs bigint[], OUT lost boolean[], OUT pruned_ids text[], OUT pruned_through bigint[]
    ) LANGUAGE plpgsql AS $fn$
    DECLARE
      v_checks text[];
      v_open text[];
      v_refused bigint[] := '{}';
      rec record;
    BEGIN
      pruned_ids := '{}';
      pruned_through := '{}';
      -- Ownership tokens: written only while the token's epoch is still the run's.
      SELECT array_agg(a.run IS NOT NULL AND f.epoch IS DISTINCT FROM a.epoch ORDER BY a.n) INTO lost
        FROM unnest(p_fence_runs, p_fence_epochs) WITH ORDINALITY AS a(run, epoch, n)
        LEFT JOIN (SELECT run_id, epoch FROM ${s}.run_fences WHERE run_id = ANY(p_fence_runs) FOR SHARE) f ON f.run_id = a.run;

      -- Open runs: a run's event, heartbeat and completion only while it is open, walking the batch.
      IF p_open_runs THEN
        SELECT array_agg(DISTINCT a.run) INTO v_checks
          FROM unnest(p_walk, p_run_ids, lost) AS a(walk, run, l)
          WHERE NOT a.l AND a.walk IN ('check', 'close');
        IF v_checks IS NOT NULL THEN
          SELECT coalesce(array_agg(o.run_id), '{}') INTO v_open
            FROM (SELECT run_id FROM ${s}.open_runs WHERE run_id = ANY(v_checks) FOR SHARE) o;
          FOR rec IN SELECT a.walk, a.run, a.n FROM unnest(p_walk, p_run_ids, lost) WITH ORDINALITY AS a(walk, run, l, n)
                   WHERE NOT a.l AND a.walk IS NOT NULL ORDER BY a.n LOOP
            IF rec.walk = 'open' THEN
              v_open := array_append(v_open, rec.run);
            ELSIF NOT (rec.run = ANY(v_open)) THEN
              v_refused := array_append(v_refused, rec.n);
            ELSIF rec.walk = 'close' THEN
              v_open := array_remove(v_open, rec.run);
            END IF;
          END LOOP;
        END IF;
      END IF;

      -- Seqs: each session's row bumped by its count (sessions in byte order: writers never deadlock).
      WITH a AS (
        SELECT a.id, a.n, NOT a.l AND a.n <> ALL (v_refused) AS ok
        FROM unnest(p_sessions, lost) WITH ORDINALITY AS a(id, l, n)
      ), counts AS (
        SELECT id, count(*) AS c FROM a WHERE ok GROUP BY id
      ), bumped AS (
        INSERT INTO ${s}.event_seqs AS q (session_id, last_seq)
        SELECT id, c FROM counts ORDER BY id COLLATE "C"
        ON CONFLICT (session_id) DO UPDATE SET last_seq = q.last_seq + excluded.last_seq
        RETURNING q.session_id, q.last_seq
      )
      SELECT array_agg(x.seq ORDER BY x.n) INTO seqs FROM (
        SELECT a.n, CASE WHEN a.ok THEN b.last_seq - c.c + row_number() OVER (PARTITION BY a.id, a.ok ORDER BY a.n) END AS seq
        FROM a LEFT JOIN counts c ON a.ok AND c.id = a.id LEFT JOIN bumped b ON a.ok AND b.session_id = a.id
      ) x;
      IF NOT EXISTS (SELECT 1 FROM unnest(seqs) AS q(seq) WHERE q.seq IS NOT NULL) THEN
        RETURN;
      END IF;

      IF p_retention > 0 THEN
        INSERT INTO ${s}.events (session_id, seq, event)
        SELECT a.id, a.seq, a.event FROM unnest(p_sessions, seqs, p_events) WITH ORDINALITY AS a(id, seq, event, n)
        WHERE a.seq IS NOT NULL ORDER BY a.n;
      END IF;

      -- The run ledger, in call order: a start opens its run, a completion closes it.
      FOR rec IN SELECT a.id, a.seq, a.e FROM unnest(p_sessions, seqs, p_effects) WITH ORDINALITY AS a(id, seq, e, n)
               WHERE a.seq IS NOT NULL AND a.e->>'ledger' IS NOT NULL ORDER BY a.n LOOP
        IF rec.e->>'ledger' = 'open' THEN
          INSERT INTO ${s}.open_runs (run_id, parent_session_id, child_session_id, title, started_seq)
          VALUES (rec.e->>'run', rec.id, rec.e->>'child', rec.e->>'title', rec.seq)
          ON CONFLICT (run_id) DO NOTHING;
        ELSE
          DELETE FROM ${s}.open_runs WHERE run_id = rec.e->>'run';
        END IF;
      END LOOP;

      -- The run index: announces first (an update of a run announced in this batch finds its row).
      INSERT INTO ${s}.runs (run_id, parent_session_id, child_session_id, root_session_id, title, model, status, created_at, started_seq)
      SELECT x.run, x.parent, x.child,
             coalesce((SELECT root_session_id FROM ${s}.sessions WHERE id = x.child),
                      (SELECT root_session_id FROM ${s}.runs r WHERE r.child_session_id = x.parent ORDER BY position DESC LIMIT 1),
                      x.parent),
             x.title, (SELECT nullif(model, '') FROM ${s}.sessions WHERE id = x.child), 'queued', x.at, x.seq
      FROM (SELECT a.e->>'run' AS run, a.id AS parent, a.e->>'child' AS child, a.e->>'title' AS title, a.e->>'at' AS at, a.seq, a.n
            FROM unnest(p_sessions, seqs, p_effects) WITH ORDINALITY AS a(id, seq, e, n)
            WHERE a.seq IS NOT NULL AND a.e->>'index' = 'announce') x
      ORDER BY x.n
      ON CONFLICT (run_id) DO NOTHING;

      -- Every running / usage / end change folded per run, as applying them one by one would leave the row.
      UPDATE ${s}.runs r SET
        started_at = CASE WHEN u.started IS NOT NULL AND r.status = 'queued' THEN u.started ELSE r.started_at END,
        status = CASE WHEN u.status IS NOT NULL THEN u.status
                      WHEN u.started IS NOT NULL AND r.status = 'queued' THEN 'running' ELSE r.status END,
        prompt_tokens = CASE WHEN u.total IS NOT NULL THEN u.prompt ELSE r.prompt_tokens END,
        completion_tokens = CASE WHEN u.total IS NOT NULL THEN u.completion ELSE r.completion_tokens END,
        total_tokens = coalesce(u.total, r.total_tokens),
        reason = CASE WHEN u.status IS NOT NULL THEN u.reason ELSE r.reason END,
        error = CASE WHEN u.status IS NOT NULL THEN u.error ELSE r.error END,
        ended_at = CASE WHEN u.status IS NOT NULL THEN u.ended ELSE r.ended_at END,
        ended_seq = CASE WHEN u.status IS NOT NULL THEN u.seq ELSE r.ended_seq END
      FROM (
        SELECT c.run,
               CASE WHEN min(c.n) FILTER (WHERE c.kind = 'running') < coalesce(min(c.n) FILTER (WHERE c.kind = 'end'), cardinality(seqs) + 1)
                    THEN (array_agg(c.at ORDER BY c.n) FILTER (WHERE c.kind = 'running'))[1] END AS started,
               (array_agg((c.e->>'prompt')::bigint ORDER BY c.n DESC) FILTER (WHERE c.kind = 'usage'))[1] AS prompt,
               (array_agg((c.e->>'completion')::bigint ORDER BY c.n DESC) FILTER (WHERE c.kind = 'usage'))[1] AS completion,
               (array_agg((c.e->>'total')::bigint ORDER BY c.n DESC) FILTER (WHERE c.kind = 'usage'))[1] AS total,
               (array_agg(c.e->>'status' ORDER BY c.n DESC) FILTER (WHERE c.kind = 'end'))[1] AS status,
               (array_agg(c.e->>'reason' ORDER BY c.n DESC) FILTER (WHERE c.kind = 'end'))[1] AS reason,
               (array_agg(c.e->>'error' ORDER BY c.n DESC) FILTER (WHERE c.kind = 'end'))[1] AS error,
               (array_agg(c.at ORDER BY c.n DESC) FILTER (WHERE c.kind = 'end'))[1] AS ended,
               (array_agg(c.seq ORDER BY c.n DESC) FILTER (WHERE c.kind = 'end'))[1] AS seq
        FROM (SELECT a.e->>'run' AS run, a.e->>'index' AS kind, a.e->>'at' AS at, a.e, a.seq, a.n
              FROM unnest(seqs, p_effects) WITH ORDINALITY AS a(seq, e, n)
              WHERE a.seq IS NOT NULL AND a.e->>'index' IN ('running', 'usage', 'end')) c
        GROUP BY c.run
      ) u
      WHERE r.run_id = u.run;

      -- Retention: rows beyond it deleted once they exceed it by a tenth.
      IF p_retention > 0 THEN
        WITH tails AS (
          SELECT a.id, max(a.seq) AS tail FROM unnest(p_sessions, seqs) AS a(id, seq) WHERE a.seq IS NOT NULL GROUP BY a.id
        ), targets AS (
          SELECT l.id, l.tail - p_retention AS through
          FROM tails l LEFT JOIN unnest(p_known_ids, p_known_through) AS k(id, through) ON k.id = l.id
          WHERE l.tail - p_retention - coalesce(k.through, 0) >= greatest(1, ceil(p_retention / 10.0))
        ), deleted AS (
          DELETE FROM ${s}.events e USING targets t WHERE e.session_id = t.id AND e.seq <= t.through
        )
        SELECT coalesce(array_agg(t.id), '{}'), coalesce(array_agg(t.through), '{}') INTO pruned_ids, pruned_through FROM targets t;
      END IF;

      -- One NOTIFY per session (sent at commit, never before), in order of its first append.
      IF p_channel IS NOT NULL THEN
        FOR rec IN SELECT '{"s":' || to_json(x.id)::text || ',"f":' || x.f || ',"t":' || x.t || '}' AS payload
                 FROM (SELECT a.id, min(a.seq) AS f, max(a.seq) AS t, min(a.n) AS first_n
                       FROM unnest(p_sessions, seqs) WITH ORDINALITY AS a(id, seq, n) WHERE a.seq IS NOT NULL GROUP BY a.id) x
                 ORDER BY x.first_n LOOP
          IF octet_length(rec.payload) <= 7900 THEN
            PERFORM pg_notify(p_channel, rec.payload);
          END IF;
        END LOOP;
      END IF;
    END
    $fn$;`;
}
