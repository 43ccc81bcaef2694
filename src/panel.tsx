import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { assetHubIcon } from './icon';
import { AssetHubRequestError, requestAPI } from './request';
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
      .catch((reason: unknown) => {
        const message =
          reason instanceof AssetHubRequestError || reason instanceof Error
            ? reason.message
            : String(reason);
        if (live) {
          setState({ kind: 'error', message });
        }
      });
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

/** The left-sidebar panel. */
export class AssetHubPanel extends ReactWidget {
  constructor() {
    super();
    this.id = 'assethub-panel';
    this.addClass('jp-AssetHub-panel');
    this.title.icon = assetHubIcon;
    this.title.label = 'Asset Hub';
    this.title.caption = 'Asset Hub';
  }

  protected render(): JSX.Element {
    return (
      <div className="jp-AssetHub-body">
        <header className="jp-AssetHub-header">Asset Hub</header>
        <VersionBanner />
      </div>
    );
  }
}
