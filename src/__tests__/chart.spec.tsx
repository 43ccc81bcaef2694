import * as React from 'react';

import { ICommit, IStudy, ITrial } from '../api';
import { branchSeries, extent, finite, numericMetrics, pathOf, scale, ticks, trialSeries } from '../chart';
import { LineChart } from '../components/LineChart';
import { FamilyTree } from '../components/SweepView';
import { familyTree } from '../sweep';
import { fire, mount } from './dom';

function commit(id: string, created_at: number, metrics: ICommit['metrics']): ICommit {
  return { id, kind: 'commit', tree: 't', parents: [], author: 'a', created_at, message: '', params: {}, metrics, meta: {}, lineage: {} };
}

function trial(name: string, points: [number | null, number | null, string, boolean?][]): ITrial {
  return {
    trial: name, branch: `sweeps/s/${name}`, head: null, params: {}, best: null, last_step: null,
    checkpoints: points.length, exploits: 0,
    points: points.map(([step, value, id, exploit]) => ({ step, value, commit: id, event: exploit ? 'exploit' : 'checkpoint' }))
  };
}

const study: IStudy = {
  path: 'a/model/f/m', study: 's', algorithm: 'pbt', metric: 'acc', direction: 'maximize', metrics: ['acc'],
  trials: [trial('t1', [[1, 0.5, 'a1'], [2, 0.7, 'a2']]), trial('t0', [[1, 0.3, 'b1'], [2, null, 'b2'], [3, 0.72, 'b3', true], [null, 0.1, 'bx']])],
  edges: [
    { from: 'a2', to: 'b3', from_trial: 't1', to_trial: 't0', from_step: 2, step: 3 },
    { from: 'gone', to: 'b3', from_trial: 't9', to_trial: 't0', from_step: 1, step: 3 }
  ],
  best: null, truncated: false
};

describe('scales and ticks', () => {
  it('widens a flat extent and maps linearly', () => {
    expect(extent([])).toEqual([0, 1]);
    expect(extent([2, 2])).toEqual([1.8, 2.2]);
    expect(extent([0, 0])).toEqual([-1, 1]);
    expect(extent([3, -1, 2])).toEqual([-1, 3]);
    const s = scale([0, 10], [100, 0]);
    expect([s(0), s(5), s(10)]).toEqual([100, 50, 0]);
  });

  it('picks round ticks inside the domain', () => {
    expect(ticks([0, 1], 4)).toEqual([0, 0.5, 1]);
    expect(ticks([0.31, 0.72], 4)).toEqual([0.4, 0.6]);
    expect(ticks([1, 20], 3)).toEqual([10, 20]);
  });

  it('draws paths through pixels and reads only finite numbers', () => {
    expect(pathOf([{ x: 1, y: 2 }, { x: 3.25, y: 4 }])).toBe('M1.0,2.0 L3.3,4.0');
    expect(pathOf([])).toBe('');
    expect([finite(1), finite(NaN), finite('1'), finite(true), finite(null)]).toEqual([1, null, null, null, null]);
  });
});

describe('series', () => {
  const logs = [
    { name: 'main', commits: [commit('m2', 20, { acc: 0.8, note: 'x' }), commit('m1', 10, { acc: 0.6 })] },
    { name: 'exp', commits: [commit('e1', 15, { loss: 0.1 }), commit('e2', 25, { acc: 'n/a' })] }
  ];

  it('lists metrics that hold numbers', () => {
    expect(numericMetrics(logs.flatMap(l => l.commits))).toEqual(['acc', 'loss']);
  });

  it('orders each branch by time and skips commits without the metric', () => {
    expect(branchSeries(logs, 'acc')).toEqual([
      { name: 'main', points: [{ x: 10, y: 0.6, commit: 'm1' }, { x: 20, y: 0.8, commit: 'm2' }] },
      { name: 'exp', points: [] }
    ]);
  });

  it('gives each trial its objective by step, leaving out checkpoints without one', () => {
    expect(trialSeries(study.trials).map(s => [s.name, s.points.map(p => p.x)])).toEqual([
      ['t1', [1, 2]],
      ['t0', [1, 3]]
    ]);
  });
});

describe('family tree', () => {
  it('has a row per trial in name order, nodes at their steps, parent links, and known exploits', () => {
    const tree = familyTree(study, 300);
    expect(tree.rows.map(r => r.trial)).toEqual(['t0', 't1']);
    expect(tree.nodes.map(n => n.commit).sort()).toEqual(['a1', 'a2', 'b1', 'b2', 'b3']);
    const at = Object.fromEntries(tree.nodes.map(n => [n.commit, n]));
    expect(at.b1.x).toBeLessThan(at.a2.x);
    expect(at.a2.x).toBeLessThan(at.b3.x);
    expect(at.b3.y).toBe(tree.rows[0].y);
    expect(tree.links.map(l => `${l.kind}:${l.from.commit}-${l.to.commit}`)).toEqual([
      'parent:b1-b2', 'parent:b2-b3', 'parent:a1-a2', 'exploit:a2-b3'
    ]);
  });

  it('renders as SVG whose nodes open their commit', () => {
    const opened: string[] = [];
    const mounted = mount(<FamilyTree study={study} open={c => opened.push(c)} />);
    expect(mounted.host.querySelectorAll('line.jp-AssetHub-edge-exploit')).toHaveLength(1);
    fire(mounted.host.querySelector('circle.jp-AssetHub-exploit')!, new MouseEvent('click', { bubbles: true }));
    expect(opened).toEqual(['b3']);
    mounted.unmount();
  });
});

describe('LineChart', () => {
  it('draws a line and a dot per point for each series, and says when there is nothing', () => {
    const series = [
      { name: 'main', points: [{ x: 1, y: 1, commit: 'c1' }, { x: 2, y: 3, commit: 'c2' }] },
      { name: 'exp', points: [{ x: 1, y: 2, commit: 'c3' }] }
    ];
    const opened: string[] = [];
    const mounted = mount(<LineChart series={series} label="acc" formatX={String} open={c => opened.push(c)} />);
    expect(mounted.host.querySelectorAll('g[data-series="main"] circle.jp-AssetHub-point')).toHaveLength(2);
    expect(mounted.host.querySelectorAll('path')).toHaveLength(2);
    fire(mounted.host.querySelector('g[data-series="exp"] circle')!, new MouseEvent('click', { bubbles: true }));
    expect(opened).toEqual(['c3']);
    mounted.unmount();
    const empty = mount(<LineChart series={[{ name: 'x', points: [] }]} label="acc" formatX={String} />);
    expect(empty.host.textContent).toBe('No acc values to chart.');
    empty.unmount();
  });
});
