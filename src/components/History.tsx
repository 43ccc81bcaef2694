/** A ref's commit history as a table sortable by any column, params and metrics included. */
import * as React from 'react';

import { api, ICommit } from '../api';
import { LoadMore, Pending, shortId, show, usePaged, when } from './common';

export interface IColumn {
  label: string;
  value: (commit: ICommit) => unknown;
}

/** The table's columns: commit, time, author, message, then every param and metric key. */
export function columnsFor(commits: ICommit[]): IColumn[] {
  const keys = (pick: (c: ICommit) => Record<string, unknown>): string[] => {
    const all = new Set<string>();
    commits.forEach(c => Object.keys(pick(c)).forEach(k => all.add(k)));
    return Array.from(all).sort();
  };
  return [
    { label: 'commit', value: c => shortId(c.id) },
    { label: 'time', value: c => c.created_at },
    { label: 'author', value: c => c.author },
    { label: 'message', value: c => c.message },
    ...keys(c => c.params).map(k => ({ label: k, value: (c: ICommit) => c.params[k] })),
    ...keys(c => c.metrics).map(k => ({ label: k, value: (c: ICommit) => c.metrics[k] }))
  ];
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return show(a).localeCompare(show(b));
}

function missing(value: unknown): boolean {
  return value === null || value === undefined;
}

/**
 * Sort `commits` by `column`, ascending or not (a stable copy). Commits without the value
 * go last either way, so sorting by a metric shows the commits that have it first.
 */
export function sortCommits(commits: ICommit[], column: IColumn, ascending: boolean): ICommit[] {
  const sign = ascending ? 1 : -1;
  return [...commits].sort((x, y) => {
    const [a, b] = [column.value(x), column.value(y)];
    if (missing(a) || missing(b)) {
      return Number(missing(a)) - Number(missing(b));
    }
    return sign * compare(a, b);
  });
}

export function History(props: { ref_: string; openCommit: (ref: string) => void }): JSX.Element {
  const paged = usePaged(async cursor => {
    const page = await api.log(props.ref_, cursor);
    return { items: page.commits, next: page.next };
  }, props.ref_);
  const [sort, setSort] = React.useState<{ index: number; ascending: boolean }>({
    index: 1,
    ascending: false
  });
  if (!paged.data) {
    return <Pending loaded={paged} />;
  }
  const commits = paged.data;
  const columns = columnsFor(commits);
  const column = columns[Math.min(sort.index, columns.length - 1)];
  const rows = sortCommits(commits, column, sort.ascending);
  const asset = props.ref_.split(':')[0];
  return (
    <>
    <table className="jp-AssetHub-table jp-AssetHub-history">
      <thead>
        <tr>
          {columns.map((c, index) => (
            <th
              key={c.label}
              aria-sort={index === sort.index ? (sort.ascending ? 'ascending' : 'descending') : 'none'}
            >
              <button
                className="jp-AssetHub-link"
                onClick={() =>
                  setSort({ index, ascending: index === sort.index ? !sort.ascending : true })
                }
              >
                {c.label}
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(commit => (
          <tr key={commit.id}>
            <td>
              <button
                className="jp-AssetHub-link jp-AssetHub-commit"
                onClick={() => props.openCommit(`${asset}:${commit.id}`)}
              >
                {shortId(commit.id)}
              </button>
            </td>
            <td>{when(commit.created_at)}</td>
            {columns.slice(2).map(c => (
              <td key={c.label}>{show(c.value(commit))}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
    <LoadMore paged={paged} />
    </>
  );
}
