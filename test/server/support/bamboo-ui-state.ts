/** A child's card, as a Bamboo UI shows it under its parent. */
export interface ChildCard {
  title?: string | undefined;
  status: string;
  error?: string | undefined;
}

/** A string field of an event, or `''`. */
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A Bamboo event as both UIs' parsers hand it on (`JSON.parse` of a `data: ` line or of `frame.event`). */
export type UiEvent = { type: string; [field: string]: unknown };

/**
 * Legacy Lotus's state of one chat, with the rules of its `useAgentEventSubscription`
 * (bigduu/Bamboo-bot, read there, not copied): sending sets `processing`; `sub_session_started`
 * adds the child to the parent's background set, sets `processing` and opens the child's card
 * (`running`); `sub_session_completed` removes it and sets the card's `status` / `error`;
 * `complete` and `error` mark the parent done; `processing` ends once the parent is done and no
 * background child is left. A subscription that returns while still processing is resubscribed
 * (with back-off; the tests resubscribe at once). Unknown types are `console.warn`ed: kept in
 * `unknown` here.
 */
export class LegacyLotusChat {
  processing = false;
  parentDone = false;
  draft = '';
  readonly background = new Set<string>();
  readonly cards = new Map<string, ChildCard>();
  readonly errors: string[] = [];
  readonly unknown: string[] = [];

  /** The user sends a message. */
  send(): void {
    this.processing = true;
    this.parentDone = false;
    this.draft = '';
  }

  apply(event: UiEvent): void {
    switch (event.type) {
      case 'token':
        this.draft += text(event.content);
        break;
      case 'complete':
      case 'error':
        if (event.type === 'error') this.errors.push(text(event.message) || text(event.error) || 'Unknown error');
        this.parentDone = true;
        if (this.background.size === 0) this.processing = false;
        break;
      case 'sub_session_started': {
        const child = String(event.child_session_id);
        this.background.add(child);
        this.processing = true;
        this.cards.set(child, { ...this.cards.get(child), title: event.title as string | undefined, status: 'running' });
        break;
      }
      case 'sub_session_completed': {
        const child = String(event.child_session_id);
        this.background.delete(child);
        const status = typeof event.status === 'string' ? event.status : 'completed';
        this.cards.set(child, { ...this.cards.get(child), status, error: event.error as string | undefined });
        if (this.parentDone && this.background.size === 0) this.processing = false;
        break;
      }
      case 'tool_token':
      case 'tool_start':
      case 'tool_complete':
      case 'tool_error':
      case 'sub_session_event':
      case 'sub_session_heartbeat':
        break;
      default:
        this.unknown.push(event.type);
    }
  }
}

/**
 * lotus-next's state of one chat pane, with the rules of its `useChat` and `v2Stream.ts`
 * (bigduu/lotus-next, read there, not copied): sending sets `sending`, which only the channel's
 * `terminal` control clears (the subscribe promise resolves, then `setSending(false)`);
 * `sub_agent_started` opens a card (`running`), `sub_agent_completed` sets it to `error` when
 * the event carries an `error`, else to its `status`; `complete` / `cancelled` reload history,
 * `error` also shows the send-error banner.
 */
export class LotusNextChat {
  sending = false;
  sendError = false;
  draft = '';
  readonly ends: string[] = [];
  readonly cards = new Map<string, ChildCard>();
  readonly unknown: string[] = [];

  send(): void {
    this.sending = true;
    this.sendError = false;
    this.draft = '';
  }

  /** The channel's `terminal` control. */
  terminal(): void {
    this.sending = false;
  }

  apply(event: UiEvent): void {
    switch (event.type) {
      case 'token':
        this.draft += text(event.content);
        break;
      case 'complete':
      case 'cancelled':
        this.ends.push(event.type);
        break;
      case 'error':
        this.ends.push('error');
        this.sendError = true;
        break;
      case 'sub_agent_started':
        this.cards.set(String(event.child_session_id), { title: event.title as string | undefined, status: 'running' });
        break;
      case 'sub_agent_completed': {
        const error = event.error as string | undefined;
        const status = typeof event.status === 'string' ? event.status : 'completed';
        this.cards.set(String(event.child_session_id), {
          ...this.cards.get(String(event.child_session_id)),
          status: error ? 'error' : status,
          error,
        });
        break;
      }
      case 'reasoning_token':
      case 'tool_start':
      case 'tool_complete':
      case 'tool_error':
      case 'sub_agent_event':
      case 'sub_agent_heartbeat':
        break;
      default:
        this.unknown.push(event.type);
    }
  }
}
