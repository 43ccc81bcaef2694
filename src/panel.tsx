import { Dialog, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { AssetView } from './components/AssetView';
import { Browser } from './components/Browser';
import { CommitView } from './components/CommitView';
import { CompareView } from './components/CompareView';
import { HubGeneration, messageOf } from './components/common';
import { NotebookPins } from './components/NotebookPins';
import { SweepView } from './components/SweepView';
import { api } from './api';
import { assetHubIcon } from './icon';
import { writePin } from './notebook';
import { requestAPI } from './request';
import { FRONTEND_VERSION } from './version';

/** The body of `GET /assethub/api/version`. */
export interface IVersionInfo {
  version: string;
}

type VersionState =
  | { kind: 'loading' }
  | { kind: 'ok'; version: string }
  | { kind: 'mismatch'; server: string }
  | { kind: 'error'; message: string };

/** Compare the server's version with this frontend's and say what that means. */
export function checkVersion(info: IVersionInfo): VersionState {
  return info.version === FRONTEND_VERSION
    ? { kind: 'ok', version: info.version }
    : { kind: 'mismatch', server: info.version };
}

function VersionBanner(): JSX.Element {
  const [state, setState] = React.useState<VersionState>({ kind: 'loading' });

  React.useEffect(() => {
    let live = true;
    requestAPI<IVersionInfo>('version')
      .then(info => live && setState(checkVersion(info)))
      .catch((reason: unknown) => live && setState({ kind: 'error', message: messageOf(reason) }));
    return () => {
      live = false;
    };
  }, []);

  switch (state.kind) {
    case 'loading':
      return <div className="jp-AssetHub-status">Connecting to the Asset Hub server…</div>;
    case 'ok':
      return (
        <div className="jp-AssetHub-status" data-status="ok">
          Asset Hub {state.version}
        </div>
      );
    case 'mismatch':
      return (
        <div className="jp-AssetHub-status jp-AssetHub-warning" data-status="mismatch">
          Version mismatch: this panel is Asset Hub {FRONTEND_VERSION} but the server runs{' '}
          {state.server}. Rebuild the extension (make lab) and reload the page.
        </div>
      );
    case 'error':
      return (
        <div className="jp-AssetHub-status jp-AssetHub-error" data-status="error">
          The Asset Hub server did not answer: {state.message}
        </div>
      );
  }
}

/** Where the panel is: the browser, an asset, a commit, or a comparison. */
export type View =
  | { kind: 'browse' }
  | { kind: 'asset'; path: string }
  | { kind: 'commit'; ref: string }
  | { kind: 'compare'; a: string; b: string }
  | { kind: 'sweep'; path: string; study: string };

async function confirm(question: string): Promise<boolean> {
  const result = await showDialog({
    title: 'Asset Hub',
    body: question,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Publish' })]
  });
  return result.button.accept;
}

interface INavigatorProps {
  pin: ((ref: string) => void) | null;
}

function Navigator(props: INavigatorProps): JSX.Element {
  const [stack, setStack] = React.useState<View[]>([{ kind: 'browse' }]);
  const view = stack[stack.length - 1];
  const go = (next: View) => setStack(s => [...s, next]);
  const openAsset = (path: string) => go({ kind: 'asset', path });
  const openCommit = (ref: string) => go({ kind: 'commit', ref });
  return (
    <section className="jp-AssetHub-navigator">
      {stack.length > 1 && (
        <div className="jp-AssetHub-nav">
          <button className="jp-mod-styled jp-AssetHub-back" onClick={() => setStack(s => s.slice(0, -1))}>
            ← Back
          </button>
          <button className="jp-mod-styled" onClick={() => setStack(s => s.slice(0, 1))}>
            All assets
          </button>
        </div>
      )}
      {view.kind === 'browse' && <Browser openAsset={openAsset} />}
      {view.kind === 'asset' && (
        <AssetView
          key={view.path}
          path={view.path}
          openCommit={openCommit}
          compare={(a, b) => go({ kind: 'compare', a, b })}
          openStudy={study => go({ kind: 'sweep', path: view.path, study })}
          pin={props.pin}
          confirm={confirm}
        />
      )}
      {view.kind === 'commit' && (
        <CommitView key={view.ref} ref_={view.ref} openCommit={openCommit} openAsset={openAsset} />
      )}
      {view.kind === 'compare' && <CompareView a={view.a} b={view.b} />}
      {view.kind === 'sweep' && (
        <SweepView key={`${view.path}|${view.study}`} path={view.path} study={view.study} openCommit={openCommit} />
      )}
    </section>
  );
}

/** The left-sidebar panel. */
export class AssetHubPanel extends ReactWidget {
  constructor(private readonly tracker: INotebookTracker | null = null) {
    super();
    this.id = 'assethub-panel';
    this.addClass('jp-AssetHub-panel');
    this.title.icon = assetHubIcon;
    this.title.label = 'Asset Hub';
    this.title.caption = 'Asset Hub';
    tracker?.currentChanged.connect(() => this.pinsChanged());
    this._poll = new Poll({
      factory: () => this._checkHub(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 60 * 1000 },
      // Poll only while the panel is shown and the browser tab is visible.
      standby: () => !this.isVisible || 'when-hidden'
    });
  }

  /** How many hub changes the panel has seen (the views reload on each). */
  get generation(): number {
    return this._generation;
  }

  /** Ask the server whether the hub changed; a new token reloads every view. */
  private async _checkHub(): Promise<void> {
    const { generation } = await api.changes();
    if (this._token !== null && generation !== this._token) {
      this._generation++;
      this._round++;
      this._changed.emit();
    }
    this._token = generation;
  }

  /** Look for changes at once when the panel is shown again (it does not poll while hidden). */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  /** Tell the panel that the active notebook's pins may have changed. */
  pinsChanged(): void {
    this._round++;
    this._changed.emit();
  }

  /** Emitted when the active notebook or its pins change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The active notebook's path, or null. */
  get notebookPath(): string | null {
    return this.tracker?.currentWidget?.context.path ?? null;
  }

  /** Write `%asset pin REF` into the active notebook and show it. */
  pin(ref: string): void {
    const panel = this.tracker?.currentWidget;
    if (!panel) {
      return;
    }
    const index = writePin(panel, ref);
    panel.content.activeCellIndex = index;
    panel.content.scrollToItem(index).catch(() => undefined);
  }

  protected render(): JSX.Element {
    return <PanelBody panel={this} />;
  }

  get round(): number {
    return this._round;
  }

  private _round = 0;
  private _generation = 0;
  private _token: string | null = null;
  private _poll: Poll;
  private _changed = new Signal<this, void>(this);
}

/** How often the shown panel asks whether the hub changed (GET changes: a few aggregates). */
const POLL_INTERVAL = 5000;

function PanelBody(props: { panel: AssetHubPanel }): JSX.Element {
  const { panel } = props;
  const snapshot = () => ({ notebook: panel.notebookPath, round: panel.round, generation: panel.generation });
  const [state, setState] = React.useState(snapshot);
  React.useEffect(() => {
    const update = () => setState(snapshot());
    panel.changed.connect(update);
    return () => {
      panel.changed.disconnect(update);
    };
  }, [panel]);
  return (
    <HubGeneration.Provider value={state.generation}>
      <div className="jp-AssetHub-body">
        <header className="jp-AssetHub-header">Asset Hub</header>
        <VersionBanner />
        <NotebookPins notebook={state.notebook} round={state.round} pin={ref => panel.pin(ref)} />
        <Navigator pin={state.notebook ? (ref: string) => panel.pin(ref) : null} />
      </div>
    </HubGeneration.Provider>
  );
}
