// Makes a machine graph readable before layout: a transition that most states of a compound
// state share (the job machine's `job.timeout` → `error`, `job.abandon` → `cancelled`, …) is
// drawn once, from the compound state, instead of from every state; and the remaining
// transitions between the same two states become one line with every label.

/** Children sharing an exit before it is drawn from their parent instead. */
const MIN_SHARED = 3;

const eventOf = (label) => label.split(' [')[0];

/**
 * The edges to draw for `graph` (`{ nodes, edges }` of `GET /v1/machines`): each
 * `{ id, source, target, labels, shared, from? }` — `shared` edges leave a compound state and
 * `from` lists the states that share them.
 */
export function drawnEdges(graph) {
  const childrenOf = new Map();
  for (const node of graph.nodes) {
    if (node.parent === undefined) continue;
    const list = childrenOf.get(node.parent) ?? [];
    list.push(node);
    childrenOf.set(node.parent, list);
  }
  const removed = new Set();
  const shared = [];
  for (const [parentId, children] of childrenOf) {
    const own = new Set(children.map((child) => child.id));
    const live = children.filter((child) => child.type !== 'final').length;
    // (target, event) → the children with that exit
    const exits = new Map();
    for (const edge of graph.edges) {
      if (!own.has(edge.source) || edge.source === edge.target) continue;
      const key = `${edge.target}\u0000${eventOf(edge.label)}`;
      const entry = exits.get(key) ?? { target: edge.target, event: eventOf(edge.label), sources: new Set(), edges: [] };
      entry.sources.add(edge.source);
      entry.edges.push(edge);
      exits.set(key, entry);
    }
    for (const entry of exits.values()) {
      if (entry.sources.size < MIN_SHARED || entry.sources.size * 2 < live) continue;
      for (const edge of entry.edges) removed.add(edge.id);
      const from = children.filter((child) => entry.sources.has(child.id)).map((child) => child.key);
      shared.push({ source: parentId, target: entry.target, label: entry.event, from });
    }
  }
  const merged = new Map();
  const add = (source, target, label, isShared, from) => {
    const key = `${source}\u0000${target}\u0000${isShared ? 's' : ''}`;
    const entry = merged.get(key) ?? {
      id: `${isShared ? 'shared:' : ''}${source}→${target}`,
      source,
      target,
      labels: [],
      shared: isShared,
      from: [],
    };
    if (!entry.labels.includes(label)) entry.labels.push(label);
    for (const key of from) if (!entry.from.includes(key)) entry.from.push(key);
    merged.set(key, entry);
  };
  for (const edge of graph.edges)
    if (!removed.has(edge.id) && edge.source !== edge.target) add(edge.source, edge.target, edge.label, false, []);
  for (const edge of shared) add(edge.source, edge.target, edge.label, true, edge.from);
  return [...merged.values()];
}
