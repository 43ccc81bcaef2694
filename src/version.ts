// The bundler inlines package.json, so the frontend knows the version it was built as.
const data = require('../package.json') as { version: string };

declare function require(path: string): unknown;

/** The version of this frontend bundle (package.json's "version"). */
export const FRONTEND_VERSION: string = data.version;
