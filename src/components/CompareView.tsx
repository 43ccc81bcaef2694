/** Two refs side by side: files added, removed and changed; params and metrics. */
import * as React from 'react';

import { api, SideBySide } from '../api';
import { Heading, humanSize, Pending, show, useLoad } from './common';

function SideBySideTable(props: { title: string; values: SideBySide; a: string; b: string }): JSX.Element | null {
  const keys = Object.keys(props.values).sort();
  if (keys.length === 0) {
    return null;
  }
  return (
    <table className="jp-AssetHub-table">
      <caption>{props.title}</caption>
      <thead>
        <tr>
          <th />
          <th>{props.a}</th>
          <th>{props.b}</th>
        </tr>
      </thead>
      <tbody>
        {keys.map(key => {
          const [a, b] = props.values[key];
          return (
            <tr key={key} className={show(a) === show(b) ? '' : 'jp-AssetHub-differs'}>
              <th>{key}</th>
              <td>{show(a)}</td>
              <td>{show(b)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function CompareView(props: { a: string; b: string }): JSX.Element {
  const loaded = useLoad(() => api.diff(props.a, props.b), `${props.a}|${props.b}`);
  if (!loaded.data) {
    return <Pending loaded={loaded} />;
  }
  const diff = loaded.data;
  const name = (ref: string) => ref.split(':').slice(1).join(':');
  return (
    <div className="jp-AssetHub-compare-view">
      <Heading>
        {name(props.a)} → {name(props.b)}
      </Heading>
      {diff.changes.length === 0 ? (
        <div className="jp-AssetHub-status">No file differs.</div>
      ) : (
        <table className="jp-AssetHub-table jp-AssetHub-changes">
          <tbody>
            {diff.changes.map(c => (
              <tr key={c.path} className={`jp-AssetHub-${c.status}`}>
                <td>{c.status}</td>
                <td>{c.path}</td>
                <td>
                  {humanSize(c.old_size)} → {humanSize(c.new_size)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <SideBySideTable title="params" values={diff.params} a={name(props.a)} b={name(props.b)} />
      <SideBySideTable title="metrics" values={diff.metrics} a={name(props.a)} b={name(props.b)} />
    </div>
  );
}
