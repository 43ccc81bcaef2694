/** One asset: its versions (datasets) or branches and tags (models), history, compare, actions. */
import * as React from 'react';

import { api, IRef, IRefs } from '../api';
import { Actions } from './Actions';
import { Heading, Pending, shortId, useLoad, when } from './common';
import { History } from './History';
import { MetricChart } from './MetricChart';
import { Studies } from './SweepView';

export interface IAssetViewProps {
  path: string;
  openCommit: (ref: string) => void;
  compare: (a: string, b: string) => void;
  openStudy: (study: string) => void;
  pin: ((ref: string) => void) | null;
  confirm: (question: string) => Promise<boolean>;
}

function RefRow(props: { asset: string; item: IRef; view: IAssetViewProps }): JSX.Element {
  const { item, view } = props;
  const ref = `${props.asset}:${item.name}`;
  return (
    <li className="jp-AssetHub-ref" data-ref={item.name}>
      <button className="jp-AssetHub-link" onClick={() => view.openCommit(ref)}>
        {item.name}
      </button>{' '}
      {item.kind === 'version' && <span className="jp-AssetHub-badge jp-AssetHub-published">published</span>}
      {item.kind !== 'version' && <span className="jp-AssetHub-badge">{item.kind}</span>}
      {item.derived_from && <span className="jp-AssetHub-dim"> from {item.derived_from}</span>}
      <span className="jp-AssetHub-dim">
        {' '}
        {shortId(item.commit)} · {when(item.created_at)} {item.message}
      </span>
      {view.pin && (
        <button className="jp-AssetHub-pin jp-mod-styled" title={`Pin ${ref} in the active notebook`} onClick={() => view.pin!(ref)}>
          Pin
        </button>
      )}
    </li>
  );
}

function Compare(props: { refs: IRefs; compare: (a: string, b: string) => void }): JSX.Element | null {
  const names = props.refs.refs.map(r => r.name);
  const [a, setA] = React.useState(names[0] ?? '');
  const [b, setB] = React.useState(names[names.length - 1] ?? '');
  if (names.length < 2) {
    return null;
  }
  const choose = (value: string, set: (v: string) => void, label: string) => (
    <select className="jp-mod-styled" aria-label={label} value={value} onChange={e => set(e.target.value)}>
      {names.map(n => (
        <option key={n}>{n}</option>
      ))}
    </select>
  );
  return (
    <div className="jp-AssetHub-compare-pick">
      {choose(a, setA, 'Compare from')} → {choose(b, setB, 'Compare to')}
      <button className="jp-mod-styled jp-AssetHub-compare" onClick={() => props.compare(`${props.refs.path}:${a}`, `${props.refs.path}:${b}`)}>
        Compare
      </button>
    </div>
  );
}

/** The branches a model's metric chart offers: main first, sweep trials left to the sweep view. */
export function chartBranches(refs: IRefs): string[] {
  const names = refs.refs.filter(r => r.kind === 'branch' && !r.name.startsWith('sweeps/')).map(r => r.name);
  return names.includes('main') ? ['main', ...names.filter(n => n !== 'main')] : names;
}

export function AssetView(props: IAssetViewProps): JSX.Element {
  const loaded = useLoad(() => api.refs(props.path), props.path);
  if (!loaded.data) {
    return <Pending loaded={loaded} />;
  }
  const refs = loaded.data;
  const versions = refs.type === 'dataset';
  const draft = refs.draft;
  return (
    <div className="jp-AssetHub-asset-view">
      <Heading>{props.path}</Heading>
      <Heading>{versions ? 'Versions' : 'Branches and tags'}</Heading>
      <ul className="jp-AssetHub-list">
        {refs.refs
          .filter(r => r.kind !== 'latest')
          .map(item => (
            <RefRow key={`${item.kind}:${item.name}`} asset={refs.path} item={item} view={props} />
          ))}
        {draft && (
          <li className="jp-AssetHub-ref" data-ref="draft">
            <button className="jp-AssetHub-link" onClick={() => props.openCommit(`${refs.path}:draft`)}>
              draft
            </button>{' '}
            <span className="jp-AssetHub-badge jp-AssetHub-draft">draft</span>
            <span className="jp-AssetHub-dim">
              {' '}
              from {draft.base_version ?? 'nothing'} · rev {draft.revision}
              {draft.unpublished_changes ? ' · unpublished changes' : ''}
            </span>
          </li>
        )}
      </ul>
      <Compare refs={refs} compare={props.compare} />
      {refs.access === 'edit' ? (
        <>
          <Heading>Actions</Heading>
          <Actions refs={refs} changed={loaded.reload} confirm={props.confirm} />
        </>
      ) : (
        <div className="jp-AssetHub-status jp-AssetHub-access">
          You may {refs.access} here: changes need edit (ask the folder's owner).
        </div>
      )}
      {!versions && <Studies path={refs.path} open={props.openStudy} />}
      <Heading>History</Heading>
      {!versions && <MetricChart asset={refs.path} branches={chartBranches(refs)} openCommit={props.openCommit} />}
      <History ref_={`${refs.path}:main`} openCommit={props.openCommit} />
    </div>
  );
}
