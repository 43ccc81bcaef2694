/**
 * What the panel does to notebooks: write a pin line into the active one, and mirror the
 * kernel's pin outputs into each open notebook's metadata.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

import {
  IPinRecord,
  mergePin,
  newPinCell,
  pinFromBundle,
  updatePinSource
} from './pins';

/**
 * Insert `%asset pin REF` (after `%load_ext assethub_ext`) as the notebook's first cell, or move the notebook's existing pin
 * of the same asset to REF. Returns the index of the cell that holds the line.
 */
export function writePin(panel: NotebookPanel, ref: string): number {
  const shared = panel.content.model!.sharedModel;
  for (let index = 0; index < shared.cells.length; index++) {
    const cell = shared.cells[index];
    if (cell.cell_type !== 'code') {
      continue;
    }
    const updated = updatePinSource(cell.getSource(), ref);
    if (updated !== null) {
      cell.setSource(updated);
      return index;
    }
  }
  shared.insertCell(0, { cell_type: 'code', source: newPinCell(ref) });
  return 0;
}

function recordPin(panel: NotebookPanel, record: IPinRecord): void {
  const model = panel.content.model;
  if (!model) {
    return;
  }
  const current = (model.getMetadata('assethub') ?? {}) as { pins?: Record<string, IPinRecord> };
  model.setMetadata('assethub', { ...current, pins: mergePin(current.pins, record) });
}

function onIOPub(panel: NotebookPanel, msg: KernelMessage.IMessage, pinned: () => void): void {
  if (!KernelMessage.isDisplayDataMsg(msg) && !KernelMessage.isExecuteResultMsg(msg)) {
    return;
  }
  const record = pinFromBundle(msg.content.data as Record<string, unknown>);
  if (record) {
    recordPin(panel, record);
    pinned();
  }
}

/**
 * Mirror every pin output of the tracked notebooks' kernels into `metadata.assethub.pins`,
 * and call `pinned` so the panel refreshes its "This notebook" section.
 */
export function mirrorPins(tracker: INotebookTracker, pinned: () => void): void {
  tracker.widgetAdded.connect((_, panel) => {
    panel.sessionContext.iopubMessage.connect((__, msg) => onIOPub(panel, msg, pinned));
  });
}
