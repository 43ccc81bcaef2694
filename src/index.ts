import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import { mirrorPins } from './notebook';
import { AssetHubPanel } from './panel';

export { AssetHubRequestError, requestAPI } from './request';

/** Adds the Asset Hub panel to the left sidebar and records pins in open notebooks. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'assethub-ext:plugin',
  description: 'Asset Hub: versioned datasets and models in a left-sidebar panel.',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    tracker: INotebookTracker | null
  ) => {
    const panel = new AssetHubPanel(tracker);
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
    if (tracker) {
      mirrorPins(tracker, () => panel.pinsChanged());
    }
  }
};

export default plugin;
