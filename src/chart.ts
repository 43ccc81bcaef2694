/**
 * Pure helpers for the panel's small SVG charts: scales, ticks, paths, and the series that
 * the history (a metric over each branch's commits) and the sweep view (the objective over
 * each trial's steps) draw. No charting library: the charts are a few lines and dots.
 */
import type { ICommit, ITrial } from './api';

export interface IPoint {
  x: number;
  y: number;
  /** What a dot's tooltip says and what clicking it opens (a commit id). */
  commit?: string;
}

export interface ISeries {
  name: string;
  points: IPoint[];
}

/** A finite number, or null (metrics may hold text, booleans or nothing). */
export function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** [min, max] of `values`, widened when they are all equal so a scale never divides by 0. */
export function extent(values: number[]): [number, number] {
  if (values.length === 0) {
    return [0, 1];
  }
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (low === high) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    return [low - pad, high + pad];
  }
  return [low, high];
}

/** The linear map from `domain` onto `range`. */
export function scale(domain: [number, number], range: [number, number]): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  return value => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0);
}

/** Up to about `count` round values (1, 2 or 5 times a power of ten apart) within `domain`. */
export function ticks(domain: [number, number], count = 4): number[] {
  const [low, high] = domain;
  const raw = (high - low) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** An SVG path through `points` (already in pixels), or '' for none. */
export function pathOf(points: { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

/** The metric names that hold a number in at least one commit, sorted. */
export function numericMetrics(commits: ICommit[]): string[] {
  const names = new Set<string>();
  commits.forEach(c => Object.entries(c.metrics).forEach(([k, v]) => finite(v) !== null && names.add(k)));
  return Array.from(names).sort();
}

/** One series per branch: `metric` at each commit's time, oldest first; commits without it skipped. */
export function branchSeries(logs: { name: string; commits: ICommit[] }[], metric: string): ISeries[] {
  return logs.map(({ name, commits }) => ({
    name,
    points: commits
      .filter(c => finite(c.metrics[metric]) !== null)
      .map(c => ({ x: c.created_at, y: finite(c.metrics[metric])!, commit: c.id }))
      .sort((a, b) => a.x - b.x)
  }));
}

/** One series per trial: the objective at each step (checkpoints without either skipped). */
export function trialSeries(trials: ITrial[]): ISeries[] {
  return trials.map(t => ({
    name: t.trial,
    points: t.points
      .filter(p => p.step !== null && p.value !== null)
      .map(p => ({ x: p.step!, y: p.value!, commit: p.commit }))
  }));
}
