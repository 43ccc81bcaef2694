import * as React from 'react';

import { ILineage } from '../api';
import { columns, LineageGraph, place } from '../components/LineageGraph';
import { fire, IMounted, mount } from './dom';

const A = 'alice/dataset/cv/digits';
const M = 'alice/model/cls/net';
// raw -> v1 -> (model m1 uses v1) ; v1 -> v2 ; m1 -> m2
const lineage: ILineage = {
  root: 'v1',
  nodes: [
    { id: 'raw', asset: 'alice/dataset/cv/raw', refs: ['v3'] },
    { id: 'v1', asset: A, refs: ['v1'] },
    { id: 'v2', asset: A, refs: ['v2'] },
    { id: 'm1', asset: M, refs: [] },
    { id: 'm2', asset: M, missing: true },
    { id: 'far', asset: M }
  ],
  edges: [
    { from: 'raw', to: 'v1', kind: 'input' },
    { from: 'v1', to: 'v2', kind: 'parent' },
    { from: 'v1', to: 'm1', kind: 'input' },
    { from: 'm1', to: 'm2', kind: 'parent' }
  ]
};

describe('lineage layout', () => {
  it('puts inputs left of the root and what was made from it right, nearest column first', () => {
    const column = columns(lineage);
    expect(Object.fromEntries(column)).toEqual({ v1: 0, raw: -1, v2: 1, m1: 1, m2: 2 });
  });

  it('places connected nodes from the left edge, one row each within a column', () => {
    const placed = Object.fromEntries(place(lineage).map(p => [p.node.id, [p.x, p.y]]));
    expect(Object.keys(placed).sort()).toEqual(['m1', 'm2', 'raw', 'v1', 'v2']);
    expect(placed.raw[0]).toBeLessThan(placed.v1[0]);
    expect(placed.v1[0]).toBeLessThan(placed.v2[0]);
    expect(placed.v2[0]).toBe(placed.m1[0]);
    expect(placed.v2[1]).not.toBe(placed.m1[1]);
  });

  it('handles a root alone', () => {
    expect(place({ root: 'x', nodes: [{ id: 'x' }], edges: [] })).toEqual([{ node: { id: 'x' }, x: 4, y: 4 }]);
  });
});

describe('LineageGraph', () => {
  let mounted: IMounted;
  afterEach(() => mounted.unmount());

  it('draws one node per connected commit and one line per edge between them', () => {
    mounted = mount(<LineageGraph lineage={lineage} open={() => undefined} />);
    const { host } = mounted;
    expect(host.querySelectorAll('g.jp-AssetHub-node')).toHaveLength(5);
    expect(host.querySelectorAll('line.jp-AssetHub-edge-input')).toHaveLength(2);
    expect(host.querySelectorAll('line.jp-AssetHub-edge-parent')).toHaveLength(2);
    expect(host.querySelector('g.jp-AssetHub-root')?.getAttribute('aria-label')).toBe(`${A} v1`);
  });

  it('opens the commit a node names on click and on Enter, never a missing one', () => {
    const opened: string[] = [];
    mounted = mount(<LineageGraph lineage={lineage} open={ref => opened.push(ref)} />);
    const node = (label: string) => mounted.host.querySelector(`g[aria-label="${label}"]`)!;
    fire(node(`${A} v2`), new MouseEvent('click', { bubbles: true }));
    fire(node('alice/dataset/cv/raw v3'), new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    fire(node(`${M} m2 (gone)`), new MouseEvent('click', { bubbles: true }));
    expect(opened).toEqual([`${A}:v2`, 'alice/dataset/cv/raw:raw']);
  });

  it('shows a commit in a folder the caller may not read as not readable, and never opens it', () => {
    const opened: string[] = [];
    const hidden: ILineage = {
      root: 'v1',
      nodes: [{ id: 'v1', asset: A, refs: ['v1'] }, { id: 'secret123456789', restricted: true }],
      edges: [{ from: 'v1', to: 'secret123456789', kind: 'input' }]
    };
    mounted = mount(<LineageGraph lineage={hidden} open={ref => opened.push(ref)} />);
    const node = mounted.host.querySelector('g[aria-label^="secret123456789"]')!;
    expect(node.textContent).toContain('not readable');
    fire(node, new MouseEvent('click', { bubbles: true }));
    expect(opened).toEqual([]);
  });
});
