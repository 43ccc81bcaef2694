/** "This notebook": the active notebook's pins, marked when something newer exists. */
import * as React from 'react';

import { api, IPinStatus } from '../api';
import { assetOf } from '../pins';
import { Heading, Pending, shortId, useLoad } from './common';

export interface INotebookPinsProps {
  /** The active notebook's path, or null when no notebook is active. */
  notebook: string | null;
  /** Changes whenever the pins may have changed (a pin output, a switch of notebook). */
  round: number;
  pin: (ref: string) => void;
}

function PinRow(props: { pin: IPinStatus; move: (ref: string) => void }): JSX.Element {
  const { pin } = props;
  return (
    <li className="jp-AssetHub-ref" data-ref={pin.ref}>
      {pin.ref} <span className="jp-AssetHub-dim">{shortId(pin.commit)} → {pin.dir}</span>
      {pin.error && <div className="jp-AssetHub-error">{pin.error}</div>}
      {pin.newer && (
        <>
          {' '}
          <span className="jp-AssetHub-badge jp-AssetHub-newer">newer available</span>
          <button
            className="jp-mod-styled"
            title="Move the pin to the asset's main"
            onClick={() => props.move(`${assetOf(pin.ref)}:main`)}
          >
            Move to latest
          </button>
        </>
      )}
    </li>
  );
}

export function NotebookPins(props: INotebookPinsProps): JSX.Element {
  const notebook = props.notebook;
  const loaded = useLoad(
    () => (notebook ? api.pins(notebook) : Promise.resolve({ notebook: '', pins: [] })),
    `${notebook}|${props.round}`
  );
  return (
    <section className="jp-AssetHub-notebook">
      <Heading>This notebook</Heading>
      {notebook === null ? (
        <div className="jp-AssetHub-status">Open a notebook to pin versions into it.</div>
      ) : !loaded.data ? (
        <Pending loaded={loaded} />
      ) : loaded.data.pins.length === 0 ? (
        <div className="jp-AssetHub-status">{notebook} pins nothing yet.</div>
      ) : (
        <ul className="jp-AssetHub-list">
          {loaded.data.pins.map(pin => (
            <PinRow key={pin.ref} pin={pin} move={props.pin} />
          ))}
        </ul>
      )}
    </section>
  );
}
