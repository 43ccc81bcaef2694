/**
 * Changes to an asset: branch, tag, merge (models), publish, derive, restore (datasets).
 * The server decides who may do what: a refusal is shown as its own sentence.
 */
import * as React from 'react';

import { api, IRefs } from '../api';
import { ErrorLine, messageOf } from './common';

/** Confirmation text for publishing: a published version can never change or go away. */
export const PUBLISH_WARNING =
  'Publishing freezes the draft as the next version forever: it can never be changed or deleted. Publish?';

interface IActionsProps {
  refs: IRefs;
  changed: () => void;
  confirm: (question: string) => Promise<boolean>;
}

function useAction(changed: () => void): {
  note: string | null;
  error: string | null;
  run: (what: () => Promise<string>) => void;
} {
  const [note, setNote] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const run = (what: () => Promise<string>) => {
    setNote(null);
    setError(null);
    what()
      .then(text => {
        setNote(text);
        changed();
      })
      .catch(reason => setError(messageOf(reason)));
  };
  return { note, error, run };
}

function ModelActions(props: IActionsProps & { run: (what: () => Promise<string>) => void }): JSX.Element {
  const branches = props.refs.refs.filter(r => r.kind === 'branch').map(r => r.name);
  const [source, setSource] = React.useState(branches.find(b => b !== 'main') ?? '');
  const [name, setName] = React.useState('');
  const path = props.refs.path;
  return (
    <div className="jp-AssetHub-actions">
      <input
        className="jp-mod-styled"
        placeholder="new name"
        aria-label="New branch or tag name"
        value={name}
        onChange={e => setName(e.target.value)}
      />
      <button
        className="jp-mod-styled"
        disabled={!name}
        onClick={() => props.run(async () => `branch ${(await api.branch(`${path}:main`, name)).name} made`)}
      >
        Branch from main
      </button>
      <button
        className="jp-mod-styled"
        disabled={!name}
        onClick={() => props.run(async () => `tag ${(await api.tag(`${path}:main`, name)).name} made`)}
      >
        Tag main
      </button>
      <select className="jp-mod-styled" aria-label="Branch to merge" value={source} onChange={e => setSource(e.target.value)}>
        {branches.map(b => (
          <option key={b}>{b}</option>
        ))}
      </select>
      <button
        className="jp-mod-styled"
        disabled={!source}
        onClick={() => props.run(async () => `merge: ${(await api.merge(path, source, 'main')).kind}`)}
      >
        Merge into main
      </button>
    </div>
  );
}

function DatasetActions(props: IActionsProps & { run: (what: () => Promise<string>) => void }): JSX.Element {
  const versions = props.refs.refs.filter(r => r.kind === 'version').map(r => r.name);
  const [from, setFrom] = React.useState(versions[versions.length - 1] ?? '');
  const [files, setFiles] = React.useState('');
  const path = props.refs.path;
  const publish = async () => {
    if (!(await props.confirm(PUBLISH_WARNING))) {
      return 'not published';
    }
    return `published ${(await api.publish(path, '')).version}`;
  };
  return (
    <div className="jp-AssetHub-actions">
      <button
        className="jp-mod-styled"
        disabled={!props.refs.draft?.unpublished_changes}
        onClick={() => props.run(publish)}
      >
        Publish draft…
      </button>
      <select className="jp-mod-styled" aria-label="Version" value={from} onChange={e => setFrom(e.target.value)}>
        {versions.map(v => (
          <option key={v}>{v}</option>
        ))}
      </select>
      <button
        className="jp-mod-styled"
        disabled={!from}
        onClick={() => props.run(async () => `draft revision ${(await api.derive(path, from)).revision}`)}
      >
        Derive draft
      </button>
      <input
        className="jp-mod-styled"
        placeholder="files to restore, comma separated"
        aria-label="Files to restore"
        value={files}
        onChange={e => setFiles(e.target.value)}
      />
      <button
        className="jp-mod-styled"
        disabled={!from || !files.trim()}
        onClick={() =>
          props.run(async () => {
            const list = files.split(',').map(f => f.trim()).filter(Boolean);
            return `restored; draft revision ${(await api.restore(path, from, list)).revision}`;
          })
        }
      >
        Restore
      </button>
    </div>
  );
}

export function Actions(props: IActionsProps): JSX.Element {
  const action = useAction(props.changed);
  return (
    <>
      {props.refs.type === 'model' ? (
        <ModelActions {...props} run={action.run} />
      ) : (
        <DatasetActions {...props} run={action.run} />
      )}
      {action.note && <div className="jp-AssetHub-status">{action.note}</div>}
      {action.error && <ErrorLine message={action.error} />}
    </>
  );
}
