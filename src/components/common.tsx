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

/**
 * How many times the panel saw the hub change (GET changes moved: a write from this panel,
 * the CLI, a kernel or a pipeline); every view loaded with `useLoad` or `usePaged` then
 * fetches again, keeping what it shows until the new answer arrives.
 */
export const HubGeneration = React.createContext<number>(0);

/**
 * Load `fetch()` when `key` changes (showing "Loading…") or the hub changed (keeping the
 * shown data meanwhile); a late answer for an older request is dropped.
 */
export function useLoad<T>(fetch: () => Promise<T>, key: string): ILoaded<T> {
  const generation = React.useContext(HubGeneration);
  const [state, setState] = React.useState<{ data: T | null; error: string | null }>({
    data: null,
    error: null
  });
  const [round, setRound] = React.useState(0);
  const shownKey = React.useRef<string | null>(null);
  React.useEffect(() => {
    let live = true;
    if (shownKey.current !== key) {
      shownKey.current = key;
      setState({ data: null, error: null });
    }
    fetch()
      .then(data => live && setState({ data, error: null }))
      .catch(reason => live && setState({ data: null, error: messageOf(reason) }));
    return () => {
      live = false;
    };
  }, [key, round, generation]);
  return { ...state, reload: () => setRound(r => r + 1) };
}

/** One page of a listing: its items and the cursor of the next page. */
export interface IPage<T> {
  items: T[];
  next: string | null;
}

export interface IPaged<T> extends ILoaded<T[]> {
  /** Fetch the next page and append it; null when there is none (or one is on its way). */
  more: (() => void) | null;
}

/**
 * The first page of a listing, and more pages on demand. A change of `key` or of the hub
 * starts again from the first page.
 */
export function usePaged<T>(fetch: (cursor?: string) => Promise<IPage<T>>, key: string): IPaged<T> {
  const first = useLoad(() => fetch(), key);
  const [extra, setExtra] = React.useState<{ items: T[]; next: string | null; busy: boolean; error: string | null }>({
    items: [],
    next: null,
    busy: false,
    error: null
  });
  React.useEffect(() => setExtra({ items: [], next: null, busy: false, error: null }), [first.data]);
  const next = extra.items.length > 0 ? extra.next : first.data?.next ?? null;
  const more =
    next === null || extra.busy
      ? null
      : () => {
          setExtra(e => ({ ...e, busy: true, error: null }));
          fetch(next)
            .then(page => setExtra(e => ({ items: [...e.items, ...page.items], next: page.next, busy: false, error: null })))
            .catch(reason => setExtra(e => ({ ...e, busy: false, error: messageOf(reason) })));
        };
  return {
    data: first.data ? [...first.data.items, ...extra.items] : null,
    error: first.error ?? extra.error,
    reload: first.reload,
    more
  };
}

/** Under a paged listing: a refused next page, and the "Load more" button while there is more. */
export function LoadMore(props: { paged: IPaged<unknown> }): JSX.Element | null {
  const { more, error, data } = props.paged;
  return (
    <>
      {error !== null && data !== null && <ErrorLine message={error} />}
      {more && (
        <button className="jp-mod-styled jp-AssetHub-more" onClick={more}>
          Load more
        </button>
      )}
    </>
  );
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
