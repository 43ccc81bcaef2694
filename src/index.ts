import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { AssetHubPanel } from './panel';

export { AssetHubRequestError, requestAPI } from './request';

/** Adds the Asset Hub panel to the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'assethub-ext:plugin',
  description: 'Asset Hub: versioned datasets and models in a left-sidebar panel.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new AssetHubPanel();
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
