import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** One state of a machine graph. */
export interface GraphNode {
  /** Full state id (`spawnJob.running.idleWatch`). */
  id: string;
  /** Its key in its parent (`heartbeat`). */
  key: string;
  /** Id of the parent state; undefined for the machine's root. */
  parent: string | undefined;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** True for the parent's initial state. */
  initial: boolean;
}

/** One transition of a machine graph. */
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** The event (`job.cancel`, `done: loadChild`, `after heartbeatInterval`, `always`) and guard. */
  label: string;
}

/** A machine's states and transitions, for drawing (see the dashboard's statechart). */
export interface MachineGraph {
  id: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** A short label for an event type: `xstate.done.actor.loadChild` → `done: loadChild`. */
function eventLabel(eventType: string): string {
  if (eventType.startsWith('xstate.done.actor.')) return `done: ${eventType.slice(18)}`;
  if (eventType.startsWith('xstate.error.actor.')) return `error: ${eventType.slice(19)}`;
  if (eventType.startsWith('xstate.after.')) return `after ${eventType.slice(13).split('.')[0] ?? ''}`;
  return eventType;
}

function guardLabel(guard: unknown): string {
  if (guard === undefined || guard === null) return '';
  if (typeof guard === 'string') return ` [${guard}]`;
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return ` [${guard.type}]`;
  return ' [guard]';
}

/**
 * The states and transitions of an XState machine, read from its definition at runtime
 * (`machine.root`): what the dashboard lays out with ELK and draws. Targetless transitions
 * (actions only) are left out.
 *
 * @example
 * const graph = toMachineGraph(spawnJobMachine); // { id: 'spawnJob', nodes: [...], edges: [...] }
 */
export function toMachineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const visit = (node: AnyStateNode, parent: AnyStateNode | undefined): void => {
    const initialIds = new Set((parent?.initial?.target ?? []).map((target: AnyStateNode) => target.id));
    nodes.push({ id: node.id, key: node.key, parent: parent?.id, type: node.type, initial: initialIds.has(node.id) });
    const add = (eventType: string, transition: { target?: readonly AnyStateNode[] | undefined; guard?: unknown }): void => {
      for (const target of transition.target ?? []) {
        const label = `${eventLabel(eventType)}${guardLabel(transition.guard)}`;
        const id = `${node.id}→${target.id}:${label}`;
        if (seen.has(id)) continue;
        seen.add(id);
        edges.push({ id, source: node.id, target: target.id, label });
      }
    };
    for (const [eventType, transitions] of node.transitions) for (const transition of transitions) add(eventType, transition);
    for (const transition of node.always ?? []) add('always', transition);
    for (const child of Object.values(node.states)) visit(child, node);
  };
  visit(machine.root, undefined);
  return { id: machine.id, nodes, edges };
}
