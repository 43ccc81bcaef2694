/**
 * The Asset Hub REST API as typed calls (see assethub_ext/server/openapi.yaml).
 * Every call goes through `requestAPI`, so a refusal arrives as an `AssetHubRequestError`
 * carrying the server's one-sentence message.
 */
import { requestAPI } from './request';

export type AssetType = 'dataset' | 'model';

export interface IFolderSummary {
  path: string;
  type: AssetType;
  owner: string;
  assets: number;
}

export interface IAssetSummary {
  path: string;
  type: AssetType;
  owner: string;
  description: string;
  latest: string | null;
  branches: string[];
  tags: string[];
}

export interface IRef {
  name: string;
  kind: 'branch' | 'tag' | 'version' | 'latest';
  commit: string;
  published: boolean;
  message: string;
  created_at: number;
  derived_from: string | null;
}

export interface IDraft {
  revision: number;
  base: string | null;
  base_version: string | null;
  unpublished_changes: boolean;
  updated_at: number;
  updated_by: string;
}

/** The caller's level in an asset's folder; every change needs `edit`. */
export type Access = 'none' | 'read' | 'run' | 'edit';

export interface IRefs {
  path: string;
  type: AssetType;
  access: Access;
  refs: IRef[];
  draft: IDraft | null;
}

export type Values = Record<string, unknown>;

export interface ICommit {
  id: string;
  kind: string;
  tree: string;
  parents: string[];
  author: string;
  created_at: number;
  message: string;
  params: Values;
  metrics: Values;
  meta: Values;
  lineage: Values;
}

export interface ICommitDetail {
  asset: string;
  type: AssetType;
  ref: string;
  commit: ICommit;
  refs: string[];
  files: number;
  size: number;
  /** Evaluations attached to this version (a pipeline's evaluate stage), oldest first. */
  evaluations: ICommit[];
}

export interface ITreeEntry {
  path: string;
  digest: string;
  size: number;
  mode: number;
}

export interface ITreePage {
  commit: string;
  files: ITreeEntry[];
  total: number;
  next: string | null;
}

export interface IChange {
  path: string;
  status: 'added' | 'removed' | 'changed';
  old_size: number | null;
  new_size: number | null;
}

/** Each key's value in a and in b. */
export type SideBySide = Record<string, [unknown, unknown]>;

/** Where a commit's code was: its git commit, and the stored patch of uncommitted changes. */
export interface ICode {
  commit: string | null;
  remote: string | null;
  dirty: boolean | null;
  patch: string | null;
  patch_truncated: boolean;
}

export interface IDiff {
  a: string;
  b: string;
  changes: IChange[];
  params: SideBySide;
  metrics: SideBySide;
  code: { a: ICode | null; b: ICode | null };
}

export interface ILineageNode {
  id: string;
  asset?: string;
  kind?: string;
  refs?: string[];
  message?: string;
  missing?: boolean;
  restricted?: boolean;
}

export interface ILineageEdge {
  from: string;
  to: string;
  kind: 'input' | 'parent';
}

export interface ILineage {
  root: string;
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

export interface IPinStatus {
  ref: string;
  asset: string;
  commit: string;
  dir: string;
  pinned_at: number;
  pinned_by: string;
  current: string | null;
  latest: string | null;
  newer: boolean;
  error?: string;
}

export interface IPins {
  notebook: string;
  pins: IPinStatus[];
}

export interface IStudySummary {
  study: string;
  trials: number;
  updated_at: number;
}

export interface IStudyPoint {
  step: number | null;
  value: number | null;
  commit: string;
  event: 'checkpoint' | 'exploit';
}

export interface IBestPoint {
  trial: string;
  commit: string;
  step: number | null;
  value: number;
}

export interface ITrial {
  trial: string;
  branch: string;
  head: string | null;
  params: Values;
  best: IBestPoint | null;
  last_step: number | null;
  checkpoints: number;
  exploits: number;
  points: IStudyPoint[];
}

/** An exploit: the loser's commit `to` copied the donor checkpoint `from`. */
export interface IExploitEdge {
  from: string;
  to: string;
  from_trial: string;
  to_trial: string;
  from_step: number | null;
  step: number | null;
}

export interface IStudy {
  path: string;
  study: string;
  algorithm: string | null;
  metric: string | null;
  direction: 'maximize' | 'minimize';
  metrics: string[];
  trials: ITrial[];
  edges: IExploitEdge[];
  best: IBestPoint | null;
  truncated: boolean;
}

/** A query string from the arguments that are set. */
export function query(args: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) {
    if (value !== undefined && value !== '') {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function post<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

export const api = {
  folders: () => requestAPI<{ folders: IFolderSummary[] }>('folders'),
  assets: (args: { owner?: string; type?: string; folder?: string; q?: string; cursor?: string }) =>
    requestAPI<{ assets: IAssetSummary[]; next: string | null }>(
      `assets${query({ ...args, limit: 200 })}`
    ),
  refs: (path: string) => requestAPI<IRefs>(`refs${query({ path })}`),
  log: (ref: string, cursor?: string) =>
    requestAPI<{ commits: ICommit[]; next: string | null }>(
      `log${query({ ref, cursor, limit: 50 })}`
    ),
  commit: (ref: string) => requestAPI<ICommitDetail>(`commit${query({ ref })}`),
  tree: (ref: string, cursor?: string) =>
    requestAPI<ITreePage>(`tree${query({ ref, cursor, limit: 200 })}`),
  diff: (a: string, b: string) => requestAPI<IDiff>(`diff${query({ a, b })}`),
  lineage: (ref: string) =>
    requestAPI<ILineage>(`lineage${query({ ref, direction: 'both', depth: 3 })}`),
  changes: () => requestAPI<{ generation: string }>('changes'),
  studies: (path: string) =>
    requestAPI<{ path: string; studies: IStudySummary[] }>(`sweep${query({ path })}`),
  study: (path: string, study: string, metric?: string) =>
    requestAPI<IStudy>(`sweep${query({ path, study, metric })}`),
  pins: (notebook: string) => requestAPI<IPins>(`pins${query({ notebook })}`),
  branch: (ref: string, name: string) =>
    post<{ name: string; commit: string }>('branches', { ref, name }),
  tag: (ref: string, name: string) => post<{ name: string; commit: string }>('tags', { ref, name }),
  merge: (path: string, source: string, into: string) =>
    post<{ kind: string; commit: string }>('merge', { path, source, into }),
  publish: (path: string, message: string) =>
    post<{ version: string; commit: string }>('publish', { path, message }),
  derive: (path: string, from: string) => post<{ revision: number }>('derive', { path, from }),
  restore: (path: string, from: string, files: string[]) =>
    post<{ revision: number }>('restore', { path, from, files })
};

/** The URL that downloads one file of a commit (for an `<a href>`). */
export function fileQuery(ref: string, path: string): string {
  return `file${query({ ref, path })}`;
}
