import { LabIcon } from '@jupyterlab/ui-components';

// A stack of three discs: a store of versioned assets.
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2C7.6 2 4 3.3 4 5v3c0 1.7 3.6 3 8 3s8-1.3 8-3V5c0-1.7-3.6-3-8-3z"/>
    <path d="M4 10.2V13c0 1.7 3.6 3 8 3s8-1.3 8-3v-2.8c-1.6 1.1-4.6 1.8-8 1.8s-6.4-.7-8-1.8z"/>
    <path d="M4 15.2V19c0 1.7 3.6 3 8 3s8-1.3 8-3v-3.8c-1.6 1.1-4.6 1.8-8 1.8s-6.4-.7-8-1.8z"/>
  </g>
</svg>`;

export const assetHubIcon = new LabIcon({ name: 'assethub-ext:assethub', svgstr });
