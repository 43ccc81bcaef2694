/** Render React elements into jsdom for the component tests. */
import * as React from 'react';
import { createRoot, Root } from 'react-dom/client';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

export interface IMounted {
  host: HTMLElement;
  unmount: () => void;
}

/** `element` rendered into a fresh element of the document. */
export function mount(element: React.ReactElement): IMounted {
  const host = document.createElement('div');
  document.body.appendChild(host);
  const root: Root = createRoot(host);
  React.act(() => root.render(element));
  return {
    host,
    unmount: () => {
      React.act(() => root.unmount());
      host.remove();
    }
  };
}

/** Dispatch `event` on `target` inside `act`, so React has handled it when this returns. */
export function fire(target: Element, event: Event): void {
  React.act(() => {
    target.dispatchEvent(event);
  });
}
