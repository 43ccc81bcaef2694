/**
 * A commit's lineage as an SVG: what it was made from on the left, the commit in the middle,
 * what was made from it on the right. Each node opens the commit it names.
 */
import * as React from 'react';

import { ILineage, ILineageNode } from '../api';
import { shortId } from './common';

const COLUMN = 150;
const ROW = 44;
const NODE_W = 136;
const NODE_H = 34;

/**
 * Each node's column: the root is 0, a node one edge upstream -1, downstream +1
 * (breadth first, so a node reached both ways keeps its nearest column).
 */
export function columns(lineage: ILineage): Map<string, number> {
  const column = new Map<string, number>([[lineage.root, 0]]);
  const queue = [lineage.root];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const edge of lineage.edges) {
      const [next, step] = edge.to === id ? [edge.from, -1] : edge.from === id ? [edge.to, 1] : [null, 0];
      if (next !== null && !column.has(next)) {
        column.set(next, column.get(id)! + step);
        queue.push(next);
      }
    }
  }
  return column;
}

export interface IPlaced {
  node: ILineageNode;
  x: number;
  y: number;
}

/** Each node's top-left corner: its column from `columns`, rows filled top down per column. */
export function place(lineage: ILineage): IPlaced[] {
  const column = columns(lineage);
  const min = Math.min(0, ...column.values());
  const rows = new Map<number, number>();
  return lineage.nodes
    .filter(node => column.has(node.id))
    .map(node => {
      const c = column.get(node.id)! - min;
      const r = rows.get(c) ?? 0;
      rows.set(c, r + 1);
      return { node, x: c * COLUMN + 4, y: r * ROW + 4 };
    });
}

function label(node: ILineageNode): [string, string] {
  const name = node.asset ? node.asset.split('/').slice(-1)[0] : node.restricted ? 'not readable' : '?';
  const ref = node.refs && node.refs.length > 0 ? node.refs[0] : shortId(node.id);
  return [name, node.missing ? `${ref} (gone)` : ref];
}

export function LineageGraph(props: { lineage: ILineage; open: (ref: string) => void }): JSX.Element {
  const placed = place(props.lineage);
  const at = new Map(placed.map(p => [p.node.id, p]));
  const width = Math.max(...placed.map(p => p.x)) + NODE_W + 8;
  const height = Math.max(...placed.map(p => p.y)) + NODE_H + 8;
  return (
    <svg className="jp-AssetHub-lineage" width={width} height={height} role="img" aria-label="Lineage graph">
      {props.lineage.edges.map(edge => {
        const from = at.get(edge.from);
        const to = at.get(edge.to);
        if (!from || !to) {
          return null;
        }
        return (
          <line
            key={`${edge.from}-${edge.to}`}
            className={`jp-AssetHub-edge jp-AssetHub-edge-${edge.kind}`}
            x1={from.x + NODE_W}
            y1={from.y + NODE_H / 2}
            x2={to.x}
            y2={to.y + NODE_H / 2}
          />
        );
      })}
      {placed.map(({ node, x, y }) => {
        const [name, ref] = label(node);
        const open = () => node.asset && !node.missing && props.open(`${node.asset}:${node.id}`);
        return (
          <g
            key={node.id}
            className={`jp-AssetHub-node${node.id === props.lineage.root ? ' jp-AssetHub-root' : ''}`}
            transform={`translate(${x},${y})`}
            tabIndex={0}
            role="button"
            aria-label={`${node.asset ?? node.id} ${ref}`}
            onClick={open}
            onKeyDown={e => e.key === 'Enter' && open()}
          >
            <title>{`${node.asset ?? ''}:${node.id}\n${node.message ?? ''}`}</title>
            <rect width={NODE_W} height={NODE_H} rx={4} />
            <text x={6} y={14}>
              {name.slice(0, 20)}
            </text>
            <text x={6} y={28} className="jp-AssetHub-dim">
              {ref.slice(0, 20)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
