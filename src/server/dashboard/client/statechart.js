// Draws a machine graph (states and transitions from GET /v1/machines, read from the machine
// definitions on the server) as SVG, laid out by ELK (its bundled browser build, served locally),
// with the active states highlighted. Exits most states of a compound state share are drawn once,
// from the compound state (dashed), and parallel transitions between two states are one line.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { drawnEdges } from './graph-shape.js';

const html = htm.bind(h);
const CHAR = 6.6;
const LABEL_CHAR = 5.2;

/** The ELK graph of a machine: compound states contain their children; every edge at the root. */
function toElkGraph(graph, edges) {
  // Edge labels only where they fit: a big machine (the job machine) gets them as tooltips,
  // except for its few shared exits.
  const withLabels = edges.length <= 16;
  const byParent = new Map();
  for (const node of graph.nodes) {
    const list = byParent.get(node.parent) ?? [];
    list.push(node);
    byParent.set(node.parent, list);
  }
  const build = (node) => {
    const children = byParent.get(node.id) ?? [];
    const elk = { id: node.id, labels: [{ text: node.key }] };
    if (children.length > 0) {
      elk.children = children.map(build);
      elk.layoutOptions = {
        'elk.padding': '[top=26,left=12,bottom=12,right=12]',
        'elk.direction': node.type === 'parallel' ? 'RIGHT' : 'DOWN',
      };
    } else {
      elk.width = Math.max(70, node.key.length * CHAR + 26);
      elk.height = 28;
    }
    return elk;
  };
  const root = graph.nodes.find((node) => node.parent === undefined);
  const top = build(root);
  return {
    id: 'graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '34',
      'elk.spacing.nodeNode': '22',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.spacing.edgeLabel': '2',
    },
    children: [top],
    edges: edges.map((edge) => {
      const text = edge.labels.join(' · ');
      return {
        id: edge.id,
        sources: [edge.source],
        targets: [edge.target],
        ...(withLabels || edge.shared ? { labels: [{ text, width: text.length * LABEL_CHAR, height: 11 }] } : {}),
      };
    }),
  };
}

function flatten(node, out = []) {
  out.push(node);
  for (const child of node.children ?? []) flatten(child, out);
  return out;
}

const layouts = new Map();

/** Lays a graph out once (cached by machine id). */
function layout(graph) {
  if (!layouts.has(graph.id)) {
    // eslint-disable-next-line no-undef -- ELK is the global of elk.bundled.js
    const elk = new ELK();
    const edges = drawnEdges(graph);
    layouts.set(
      graph.id,
      elk.layout(toElkGraph(graph, edges)).then((laid) => ({ laid, edges: new Map(edges.map((edge) => [edge.id, edge])) })),
    );
  }
  return layouts.get(graph.id);
}

/**
 * A statechart.
 * @param {{ graph: object, active: string[], title: string, testid: string }} props
 */
export function Statechart({ graph, active, title, testid }) {
  const [laid, setLaid] = useState(undefined);
  const [error, setError] = useState(undefined);
  useEffect(() => {
    let live = true;
    layout(graph).then(
      (result) => live && setLaid(result),
      (cause) => live && setError(String(cause)),
    );
    return () => {
      live = false;
    };
  }, [graph]);
  if (error) return html`<div class="chart-error">layout failed: ${error}</div>`;
  if (!laid) return html`<div class="chart-loading">laying out ${title}…</div>`;
  const activeSet = new Set(active);
  const nodes = flatten(laid.laid.children[0]);
  const kinds = new Map(graph.nodes.map((node) => [node.id, node]));
  const drawn = laid.edges;
  const tooltip = (id) => {
    const edge = drawn.get(id);
    if (!edge) return '';
    return edge.shared ? `${edge.labels.join(', ')} — from any of: ${edge.from.join(', ')}` : edge.labels.join('\n');
  };
  const width = Math.ceil(laid.laid.width ?? 600);
  const height = Math.ceil(laid.laid.height ?? 400);
  return html`<figure class="statechart" data-testid=${testid} data-active=${active.join(' ')}>
    <figcaption>${title}</figcaption>
    <svg viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img" aria-label=${title}>
      <defs>
        <marker id=${`arrow-${testid}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
        </marker>
      </defs>
      ${nodes.map((node) => {
        const info = kinds.get(node.id);
        const compound = (node.children ?? []).length > 0;
        const cls = [
          'state',
          compound ? 'compound' : 'atomic',
          info?.type === 'final' ? 'final' : '',
          info?.type === 'parallel' ? 'parallel' : '',
          activeSet.has(node.id) ? 'active' : '',
        ].join(' ');
        return html`<g class=${cls} data-state-id=${node.id}>
          <rect x=${node.x} y=${node.y} width=${node.width} height=${node.height} rx="7" />
          ${info?.type === 'final' ? html`<rect class="inner" x=${node.x + 3} y=${node.y + 3} width=${node.width - 6} height=${node.height - 6} rx="5" />` : null}
          <text
            x=${compound ? node.x + 10 : node.x + node.width / 2}
            y=${compound ? node.y + 17 : node.y + node.height / 2 + 4}
            text-anchor=${compound ? 'start' : 'middle'}
            >${info?.initial ? '→ ' : ''}${node.labels?.[0]?.text ?? ''}</text
          >
        </g>`;
      })}
      ${(laid.laid.edges ?? []).map(
        (edge) =>
          html`<g
            class=${`edge ${drawn.get(edge.id)?.shared ? 'shared' : ''}`}
            data-shared=${drawn.get(edge.id)?.shared ? 'true' : 'false'}
          >
            ${(edge.sections ?? []).map((section) => {
              const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
              return html`<polyline points=${points.map((p) => `${p.x},${p.y}`).join(' ')} marker-end=${`url(#arrow-${testid})`}
                ><title>${tooltip(edge.id)}</title></polyline
              >`;
            })}
            ${(edge.labels ?? []).map((label) => html`<text class="edge-label" x=${label.x} y=${label.y + 9}>${label.text}</text>`)}
          </g>`,
      )}
    </svg>
  </figure>`;
}
