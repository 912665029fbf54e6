import type { AgentEvent, Usage } from '../../machines/agent-event.events.js';
import type { Message, MessageRole, Session } from '../../machines/session.schema.js';
import type { AgentRuntime, ExecuteRequest } from '../agents/agent-runtime.js';
import { toRfc3339, toSproutClock, type Clock, type SproutClock } from '../clock.js';

/** Emits one event as is (it is not validated here; the scheduler validates it). */
export interface EmitStep {
  emit: AgentEvent;
}
/** Emits `token` (or `reasoning_token`) events: `chunk` characters each (default: word by word), `every` ms apart on the clock. */
export interface TokensStep {
  tokens: string;
  chunk?: number;
  every?: number;
  reasoning?: boolean;
}
/** Waits `wait` ms on the injected clock. Aborting rejects at once (unless abort is ignored). */
export interface WaitStep {
  wait: number;
}
/** Appends a message to `session.messages` (`id` generated, `created_at` from the clock). */
export interface MessageStep {
  message: { role: MessageRole; content: string; id?: string; tool_call_id?: string };
}
/** Emits `tool_start`, waits `duration` ms, then `tool_complete` (or `tool_error` with `error`) and appends a tool message. */
export interface ToolStep {
  tool: { name: string; args?: unknown; result?: unknown; error?: string; id?: string; duration?: number };
}
/** Rejects `execute` with `new Error(fail)`; later steps do not run. */
export interface FailStep {
  fail: string;
}
/** Makes `execute` itself throw `new Error(throwSync)` (no promise). After an async step it can only reject. */
export interface ThrowSyncStep {
  throwSync: string;
}
/** Never settles; rejects with an `AbortError` when the signal aborts (unless abort is ignored). */
export interface HangStep {
  hang: true;
}
/** From here on the abort signal is ignored: waits keep waiting, hangs keep hanging. */
export interface IgnoreAbortStep {
  ignoreAbort: true;
}
/** After `execute` settled, emits these events from a clock timer `delay` ms later (default 0). */
export interface EmitAfterResolveStep {
  emitAfterResolve: AgentEvent[];
  delay?: number;
}

/** One step of a {@link scriptedAgent} script. */
export type ScriptStep =
  EmitStep | TokensStep | WaitStep | MessageStep | ToolStep | FailStep | ThrowSyncStep | HangStep | IgnoreAbortStep | EmitAfterResolveStep;

/** Canned scripts for when neither `scripts` nor `script` apply. */
export type ScriptedBehavior = 'complete' | 'fail' | 'hang' | 'ignore-abort' | 'throw-sync';

/** Options of {@link scriptedAgent}. */
export interface ScriptedAgentOptions {
  /** Clock that every wait runs on. @default systemClock */
  clock?: SproutClock | Clock;
  /** The script for every session, or a function building one per call. */
  script?: ScriptStep[] | ((session: Session, request: ExecuteRequest) => ScriptStep[]);
  /** Per-session scripts (by session id); they win over `script`. */
  scripts?: Record<string, ScriptStep[]>;
  /** Final assistant message appended when the script ends normally; `null` appends none. @default `Done: <title>` */
  answer?: string | null | ((session: Session) => string | null);
  /** Usage reported by the final `complete` event. @default token counts of the run */
  usage?: Usage | ((session: Session) => Usage);
  /** Canned script used when no script applies. @default 'complete' (streams the answer as tokens) */
  behavior?: ScriptedBehavior;
}

/** One recorded `execute` call. `settledAt`/`outcome` are filled when it settles. */
export interface ScriptedCall {
  readonly index: number;
  readonly sessionId: string;
  readonly model: string;
  readonly startedAt: number;
  readonly signal: AbortSignal;
  settledAt?: number;
  outcome?: 'resolved' | 'rejected' | 'threw';
  error?: unknown;
}

/** The agent {@link scriptedAgent} returns: an `AgentRuntime` plus what it recorded. */
export interface ScriptedAgent extends AgentRuntime {
  /** Every `execute` call, in call order. */
  readonly calls: readonly ScriptedCall[];
  /** `execute` calls that have not settled yet. */
  readonly active: number;
  /** The highest `active` seen so far. */
  readonly maxActive: number;
  /** Errors thrown by `request.emit` during `emitAfterResolve` timers (kept, never swallowed silently). */
  readonly lateEmitErrors: readonly unknown[];
}

interface Run {
  readonly session: Session;
  readonly request: ExecuteRequest;
  readonly clock: SproutClock;
  ignoringAbort: boolean;
  tokens: number;
  toolCalls: number;
  readonly late: EmitAfterResolveStep[];
}

const presets: Record<ScriptedBehavior, (answer: string | null) => ScriptStep[]> = {
  complete: (answer) => (answer === null ? [] : [{ tokens: answer }]),
  fail: () => [{ fail: 'scripted agent failed' }],
  hang: () => [{ hang: true }],
  'ignore-abort': () => [{ ignoreAbort: true }, { hang: true }],
  'throw-sync': () => [{ throwSync: 'scripted agent threw' }],
};

/** An `Error` named `AbortError`, caused by the signal's reason. */
function abortError(signal: AbortSignal): Error {
  const error = new Error('scripted agent aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

function throwIfAborted(run: Run): void {
  if (!run.ignoringAbort && run.request.signal.aborted) throw abortError(run.request.signal);
}

/** Sleeps `ms` on the clock (`undefined`: forever). Rejects on abort unless abort is ignored. */
function sleep(run: Run, ms: number | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { signal } = run.request;
    if (run.ignoringAbort) {
      if (ms !== undefined) run.clock.setTimeout(() => resolve(), ms);
      return;
    }
    if (signal.aborted) return reject(abortError(signal));
    let timer: unknown;
    const onAbort = (): void => {
      if (timer !== undefined) run.clock.clearTimeout(timer);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (ms !== undefined) {
      timer = run.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
    }
  });
}

function splitTokens(text: string, chunk: number | undefined): string[] {
  if (chunk === undefined || chunk <= 0) return text.split(/(?<=\s)(?=\S)/).filter((part) => part !== '');
  const parts: string[] = [];
  for (let at = 0; at < text.length; at += chunk) parts.push(text.slice(at, at + chunk));
  return parts;
}

function appendMessage(run: Run, message: MessageStep['message']): void {
  const { session, clock } = run;
  const { id, tool_call_id, role, content } = message;
  const appended: Message = {
    id: id ?? `scripted-${session.id}-${session.messages.length + 1}`,
    role,
    content,
    created_at: toRfc3339(clock.now()),
    ...(tool_call_id === undefined ? {} : { tool_call_id }),
  };
  session.messages.push(appended);
}

function emitToken(run: Run, step: TokensStep, content: string): void {
  run.tokens += 1;
  run.request.emit({ type: step.reasoning === true ? 'reasoning_token' : 'token', content });
}

function startTool(run: Run, tool: ToolStep['tool']): string {
  run.toolCalls += 1;
  const toolCallId = tool.id ?? `call-${run.session.id}-${run.toolCalls}`;
  run.request.emit({ type: 'tool_start', tool_call_id: toolCallId, tool_name: tool.name, arguments: tool.args ?? {} });
  return toolCallId;
}

function finishTool(run: Run, tool: ToolStep['tool'], toolCallId: string): void {
  if (tool.error !== undefined) {
    run.request.emit({ type: 'tool_error', tool_call_id: toolCallId, error: tool.error });
    appendMessage(run, { role: 'tool', content: tool.error, tool_call_id: toolCallId });
    return;
  }
  const result = tool.result ?? null;
  run.request.emit({ type: 'tool_complete', tool_call_id: toolCallId, result });
  appendMessage(run, { role: 'tool', content: typeof result === 'string' ? result : JSON.stringify(result), tool_call_id: toolCallId });
}

/** Plays a step that needs no waiting; returns false for steps that do. */
function playSync(run: Run, step: ScriptStep): boolean {
  if ('emit' in step) run.request.emit(step.emit);
  else if ('message' in step) appendMessage(run, step.message);
  else if ('ignoreAbort' in step) run.ignoringAbort = true;
  else if ('emitAfterResolve' in step) run.late.push(step);
  else if ('tokens' in step && step.every === undefined) {
    for (const part of splitTokens(step.tokens, step.chunk)) emitToken(run, step, part);
  } else if ('tool' in step && step.tool.duration === undefined) finishTool(run, step.tool, startTool(run, step.tool));
  else return false;
  return true;
}

async function playAsync(run: Run, steps: readonly ScriptStep[], finish: () => void): Promise<void> {
  for (const step of steps) {
    throwIfAborted(run);
    if (playSync(run, step)) continue;
    if ('fail' in step) throw new Error(step.fail);
    if ('throwSync' in step) throw new Error(step.throwSync);
    if ('wait' in step) await sleep(run, step.wait);
    else if ('hang' in step) await sleep(run, undefined);
    else if ('tokens' in step) {
      const parts = splitTokens(step.tokens, step.chunk);
      for (const [i, part] of parts.entries()) {
        if (i > 0) await sleep(run, step.every);
        throwIfAborted(run);
        emitToken(run, step, part);
      }
    } else if ('tool' in step) {
      const toolCallId = startTool(run, step.tool);
      await sleep(run, step.tool.duration);
      throwIfAborted(run);
      finishTool(run, step.tool, toolCallId);
    }
  }
  throwIfAborted(run);
  finish();
}

/**
 * A deterministic fake {@link AgentRuntime} that plays a script of {@link ScriptStep}s and waits
 * only on the injected clock. Unless the script fails or hangs, it appends the `answer` as an
 * assistant message and emits `complete {usage}` before resolving. Unless abort is ignored, an
 * aborted `request.signal` clears pending waits and rejects at once with an `AbortError`.
 *
 * @example
 * const clock = createTestClock();
 * const agent = scriptedAgent({ clock, script: [{ tokens: 'Hi there' }, { wait: 1000 }], answer: 'Hi there' });
 * const scheduler = createSpawnScheduler({ store, agent, clock });
 */
export function scriptedAgent(options: ScriptedAgentOptions = {}): ScriptedAgent {
  const clock = toSproutClock(options.clock);
  const calls: ScriptedCall[] = [];
  const lateEmitErrors: unknown[] = [];
  let active = 0;
  let maxActive = 0;

  const answerFor = (session: Session): string | null => {
    const { answer } = options;
    if (typeof answer === 'function') return answer(session);
    return answer === undefined ? `Done: ${session.title}` : answer;
  };
  const scriptFor = (session: Session, request: ExecuteRequest): readonly ScriptStep[] => {
    const own = options.scripts?.[session.id];
    if (own) return own;
    const { script } = options;
    if (typeof script === 'function') return script(session, request);
    return script ?? presets[options.behavior ?? 'complete'](answerFor(session));
  };

  const settle = (call: ScriptedCall, outcome: NonNullable<ScriptedCall['outcome']>, error?: unknown): void => {
    active -= 1;
    call.settledAt = clock.now();
    call.outcome = outcome;
    if (outcome !== 'resolved') call.error = error;
  };
  const scheduleLate = (run: Run): void => {
    for (const step of run.late) {
      clock.setTimeout(() => {
        for (const event of step.emitAfterResolve) {
          try {
            run.request.emit(event);
          } catch (error) {
            lateEmitErrors.push(error);
          }
        }
      }, step.delay ?? 0);
    }
  };

  const execute = (session: Session, request: ExecuteRequest): Promise<void> => {
    const call: ScriptedCall = {
      index: calls.length,
      sessionId: session.id,
      model: request.model,
      startedAt: clock.now(),
      signal: request.signal,
    };
    calls.push(call);
    active += 1;
    maxActive = Math.max(maxActive, active);
    const run: Run = { session, request, clock, ignoringAbort: false, tokens: 0, toolCalls: 0, late: [] };
    let steps: readonly ScriptStep[];
    let next = 0;
    try {
      steps = scriptFor(session, request);
      // Like any async function, the steps before the first wait run synchronously.
      for (; next < steps.length; next += 1) {
        const step = steps[next]!;
        if (!run.ignoringAbort && request.signal.aborted) break;
        if ('throwSync' in step) throw new Error(step.throwSync);
        if (!playSync(run, step)) break;
      }
    } catch (error) {
      settle(call, 'threw', error);
      throw error;
    }
    const finish = (): void => {
      const answer = answerFor(session);
      if (answer !== null) appendMessage(run, { role: 'assistant', content: answer });
      const { usage } = options;
      const reported =
        typeof usage === 'function'
          ? usage(session)
          : (usage ?? { prompt_tokens: 0, completion_tokens: run.tokens, total_tokens: run.tokens });
      request.emit({ type: 'complete', usage: reported });
    };
    return playAsync(run, steps.slice(next), finish).then(
      () => {
        settle(call, 'resolved');
        scheduleLate(run);
      },
      (error: unknown) => {
        settle(call, 'rejected', error);
        scheduleLate(run);
        throw error;
      },
    );
  };

  return {
    execute,
    calls,
    lateEmitErrors,
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
  };
}
