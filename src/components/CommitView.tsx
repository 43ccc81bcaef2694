/** One commit: what names it, its files, params, metrics, metadata and lineage. */
import * as React from 'react';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { api, fileQuery } from '../api';
import { Heading, humanSize, LoadMore, Pending, shortId, useLoad, usePaged, ValuesTable, when } from './common';
import { LineageGraph } from './LineageGraph';

function Files(props: { ref_: string }): JSX.Element {
  const paged = usePaged(async cursor => {
    const page = await api.tree(props.ref_, cursor);
    return { items: page.files, next: page.next };
  }, props.ref_);
  if (!paged.data) {
    return <Pending loaded={paged} />;
  }
  const base = URLExt.join(ServerConnection.makeSettings().baseUrl, 'assethub', 'api');
  const files = paged.data;
  return (
    <>
    <table className="jp-AssetHub-table jp-AssetHub-files">
      <tbody>
        {files.map(f => (
          <tr key={f.path}>
            <td>
              <a href={`${base}/${fileQuery(props.ref_, f.path)}`} download={f.path.split('/').pop()}>
                {f.path}
              </a>
            </td>
            <td>{humanSize(f.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    <LoadMore paged={paged} />
    </>
  );
}

function Lineage(props: { ref_: string; open: (ref: string) => void }): JSX.Element {
  const loaded = useLoad(() => api.lineage(props.ref_), props.ref_);
  if (!loaded.data) {
    return <Pending loaded={loaded} />;
  }
  return <LineageGraph lineage={loaded.data} open={props.open} />;
}

export function CommitView(props: {
  ref_: string;
  openCommit: (ref: string) => void;
  openAsset: (path: string) => void;
}): JSX.Element {
  const loaded = useLoad(() => api.commit(props.ref_), props.ref_);
  if (!loaded.data) {
    return <Pending loaded={loaded} />;
  }
  const { commit, asset, refs } = loaded.data;
  const exact = `${asset}:${commit.id}`;
  return (
    <div className="jp-AssetHub-commit-view">
      <Heading>
        <button className="jp-AssetHub-link" onClick={() => props.openAsset(asset)}>
          {asset}
        </button>
        :{loaded.data.ref}
      </Heading>
      <div className="jp-AssetHub-dim">
        {shortId(commit.id)} · {commit.kind} · {commit.author} · {when(commit.created_at)}
        {refs.length > 0 && ` · ${refs.join(', ')}`}
      </div>
      <p>{commit.message}</p>
      <ValuesTable title="params" values={commit.params} />
      <ValuesTable title="metrics" values={commit.metrics} />
      <ValuesTable title="metadata" values={commit.meta} />
      {loaded.data.evaluations.map(e => (
        <div key={e.id} className="jp-AssetHub-evaluation">
          <button className="jp-AssetHub-link" onClick={() => props.openCommit(`${asset}:${e.id}`)}>
            evaluation {shortId(e.id)}
          </button>
          <span className="jp-AssetHub-dim"> · {when(e.created_at)}</span>
          <ValuesTable title="metrics" values={e.metrics} />
        </div>
      ))}
      <Heading>
        Files ({loaded.data.files}, {humanSize(loaded.data.size)})
      </Heading>
      <Files ref_={exact} />
      <Heading>Lineage</Heading>
      <Lineage ref_={exact} open={props.openCommit} />
    </div>
  );
}
