/** Folders and their assets, with a search box over every asset you may read. */
import * as React from 'react';

import { api, IAssetSummary } from '../api';
import { Heading, LoadMore, Pending, useLoad, usePaged } from './common';

export interface IBrowserProps {
  openAsset: (path: string) => void;
}

function AssetRow(props: { asset: IAssetSummary; open: (path: string) => void }): JSX.Element {
  const { asset } = props;
  const latest = asset.type === 'dataset' ? asset.latest ?? 'draft only' : asset.branches.join(', ');
  return (
    <li>
      <button
        className="jp-AssetHub-link jp-AssetHub-asset"
        data-path={asset.path}
        title={asset.description}
        onClick={() => props.open(asset.path)}
      >
        <span className={`jp-AssetHub-type jp-AssetHub-type-${asset.type}`}>{asset.type}</span>
        {asset.path.split('/').slice(2).join('/')}
      </button>
      <span className="jp-AssetHub-dim">
        {' '}
        {asset.owner} · {latest}
      </span>
    </li>
  );
}

/** The assets query for a folder path `owner/type/folder` (the API takes its parts). */
export function folderQuery(path: string | undefined, q: string | undefined): Record<string, string | undefined> {
  const [owner, type, folder] = path ? path.split('/') : [];
  return { owner, type, folder, q };
}

function AssetList(props: { folder?: string; q?: string; open: (path: string) => void }): JSX.Element {
  const paged = usePaged(async cursor => {
    const page = await api.assets({ ...folderQuery(props.folder, props.q), cursor });
    return { items: page.assets, next: page.next };
  }, `${props.folder}|${props.q}`);
  if (!paged.data) {
    return <Pending loaded={paged} />;
  }
  if (paged.data.length === 0) {
    return <div className="jp-AssetHub-status">No assets.</div>;
  }
  return (
    <>
      <ul className="jp-AssetHub-list">
        {paged.data.map(asset => (
          <AssetRow key={asset.path} asset={asset} open={props.open} />
        ))}
      </ul>
      <LoadMore paged={paged} />
    </>
  );
}

/** Folders → assets; typing in the search box lists matching assets of every folder. */
export function Browser(props: IBrowserProps): JSX.Element {
  const [q, setQ] = React.useState('');
  const [folder, setFolder] = React.useState<string | null>(null);
  const folders = useLoad(() => api.folders(), 'folders');
  return (
    <div className="jp-AssetHub-browser">
      <input
        className="jp-AssetHub-search jp-mod-styled"
        type="search"
        placeholder="Search assets"
        aria-label="Search assets"
        value={q}
        onChange={event => setQ(event.target.value)}
      />
      {q.trim() ? (
        <AssetList q={q.trim()} open={props.openAsset} />
      ) : (
        <>
          <Heading>Folders</Heading>
          <Pending loaded={folders} />
          <ul className="jp-AssetHub-list">
            {folders.data?.folders.map(f => (
              <li key={f.path}>
                <button
                  className="jp-AssetHub-link jp-AssetHub-folder"
                  data-path={f.path}
                  aria-expanded={folder === f.path}
                  onClick={() => setFolder(folder === f.path ? null : f.path)}
                >
                  {folder === f.path ? '▾' : '▸'} {f.path}
                </button>
                <span className="jp-AssetHub-dim"> {f.assets}</span>
                {folder === f.path && <AssetList folder={f.path} open={props.openAsset} />}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
