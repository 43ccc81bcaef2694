/**
 * The PBT family tree of a study, laid out: one row per trial, each checkpoint at its step,
 * a trial's checkpoints joined left to right, and an exploit drawn from the donor's
 * checkpoint to the loser's exploit commit (from the lineage edges the server read).
 */
import type { IStudy } from './api';
import { extent, scale } from './chart';

export interface ITreeNode {
  commit: string;
  trial: string;
  step: number;
  exploit: boolean;
  x: number;
  y: number;
}

export interface ITreeLink {
  from: ITreeNode;
  to: ITreeNode;
  kind: 'parent' | 'exploit';
}

export interface IFamilyTree {
  rows: { trial: string; y: number }[];
  nodes: ITreeNode[];
  links: ITreeLink[];
  width: number;
  height: number;
}

export const TREE_LEFT = 56;
export const TREE_ROW = 22;

/** Lay out `study` in a box `width` pixels wide (checkpoints without a step are left out). */
export function familyTree(study: IStudy, width: number): IFamilyTree {
  const trials = [...study.trials].sort((a, b) => a.trial.localeCompare(b.trial));
  const steps = trials.flatMap(t => t.points.map(p => p.step).filter((s): s is number => s !== null));
  const x = scale(extent(steps), [TREE_LEFT, width - 10]);
  const rows = trials.map((t, i) => ({ trial: t.trial, y: 14 + i * TREE_ROW }));
  const byCommit = new Map<string, ITreeNode>();
  const links: ITreeLink[] = [];
  trials.forEach((trial, i) => {
    let previous: ITreeNode | null = null;
    for (const point of trial.points) {
      if (point.step === null) {
        continue;
      }
      const node: ITreeNode = {
        commit: point.commit,
        trial: trial.trial,
        step: point.step,
        exploit: point.event === 'exploit',
        x: x(point.step),
        y: rows[i].y
      };
      byCommit.set(node.commit, node);
      if (previous) {
        links.push({ from: previous, to: node, kind: 'parent' });
      }
      previous = node;
    }
  });
  for (const edge of study.edges) {
    const from = byCommit.get(edge.from);
    const to = byCommit.get(edge.to);
    if (from && to) {
      links.push({ from, to, kind: 'exploit' });
    }
  }
  return { rows, nodes: Array.from(byCommit.values()), links, width, height: 14 + rows.length * TREE_ROW };
}
