/** Small pieces every view of the panel shares: loading state, errors, values, times. */
import * as React from 'react';

export interface ILoaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/** The message of anything thrown (our request errors carry the server's sentence). */
export function messageOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** Load `fetch()` when `key` changes; a late answer for an older key is dropped. */
export function useLoad<T>(fetch: () => Promise<T>, key: string): ILoaded<T> {
  const [state, setState] = React.useState<{ data: T | null; error: string | null }>({
    data: null,
    error: null
  });
  const [round, setRound] = React.useState(0);
  React.useEffect(() => {
    let live = true;
    setState({ data: null, error: null });
    fetch()
      .then(data => live && setState({ data, error: null }))
      .catch(reason => live && setState({ data: null, error: messageOf(reason) }));
    return () => {
      live = false;
    };
  }, [key, round]);
  return { ...state, reload: () => setRound(r => r + 1) };
}

/** What a view shows while loading or after a refusal; null once the data is there. */
export function Pending(props: { loaded: ILoaded<unknown> }): JSX.Element | null {
  if (props.loaded.error !== null) {
    return <ErrorLine message={props.loaded.error} />;
  }
  if (props.loaded.data === null) {
    return <div className="jp-AssetHub-status">Loading…</div>;
  }
  return null;
}

export function ErrorLine(props: { message: string }): JSX.Element {
  return (
    <div className="jp-AssetHub-status jp-AssetHub-error" role="alert">
      {props.message}
    </div>
  );
}

/** A value as a short string: numbers as they are, other things as JSON. */
export function show(value: unknown): string {
  if (value === null || value === undefined) {
    return '–';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function when(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

export function humanSize(bytes: number | null): string {
  if (bytes === null) {
    return '–';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function shortId(id: string): string {
  return id.slice(0, 10);
}

/** A two-column table of a commit's params, metrics or meta. */
export function ValuesTable(props: { title: string; values: Record<string, unknown> }): JSX.Element | null {
  const keys = Object.keys(props.values).sort();
  if (keys.length === 0) {
    return null;
  }
  return (
    <table className="jp-AssetHub-table">
      <caption>{props.title}</caption>
      <tbody>
        {keys.map(key => (
          <tr key={key}>
            <th>{key}</th>
            <td>{show(props.values[key])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A section heading. */
export function Heading(props: { children: React.ReactNode }): JSX.Element {
  return <h3 className="jp-AssetHub-heading">{props.children}</h3>;
}
