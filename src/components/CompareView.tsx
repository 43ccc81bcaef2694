/** Two refs side by side: files added, removed and changed; params and metrics. */
import * as React from 'react';

import { api, ICode, SideBySide } from '../api';
import { Heading, humanSize, Pending, shortId, show, useLoad } from './common';

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

function CodeSide(props: { name: string; code: ICode | null }): JSX.Element {
  const { code } = props;
  if (!code || !code.commit) {
    return <div className="jp-AssetHub-dim">{props.name}: code not in git</div>;
  }
  return (
    <div className="jp-AssetHub-code-side" data-side={props.name}>
      <div>
        {props.name}: git <code title={code.commit}>{shortId(code.commit)}</code>
        {code.remote && <span className="jp-AssetHub-dim"> {code.remote}</span>}
        {code.dirty ? ' + uncommitted changes' : ''}
      </div>
      {code.patch && (
        <details>
          <summary>stored patch{code.patch_truncated ? ' (cut short)' : ''}</summary>
          <pre className="jp-AssetHub-patch">{code.patch}</pre>
        </details>
      )}
    </div>
  );
}

/** Each side's code: the git commits (one line when equal) and stored patches of uncommitted changes. */
export function CodeDiff(props: { a: string; b: string; code: { a: ICode | null; b: ICode | null } }): JSX.Element {
  const { a, b } = props.code;
  const same = a?.commit && a.commit === b?.commit && !a.patch && !b?.patch;
  return (
    <section className="jp-AssetHub-code">
      <Heading>Code</Heading>
      {same ? (
        <div className="jp-AssetHub-status">Both made at git {shortId(a!.commit!)}.</div>
      ) : (
        <>
          <CodeSide name={props.a} code={a} />
          <CodeSide name={props.b} code={b} />
        </>
      )}
    </section>
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
      <CodeDiff a={name(props.a)} b={name(props.b)} code={diff.code} />
    </div>
  );
}
