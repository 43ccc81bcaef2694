/**
 * Pins as a notebook keeps them: the `%asset pin REF` line in a code cell (what a rerun
 * executes) and `metadata.assethub.pins` (what the kernel announced, mirrored by the panel
 * from the pin MIME output so the notebook file records it even without the lock file).
 */

/** The MIME type of the display_data that `%asset pin` emits (assethub_ext/magics/display.py). */
export const PIN_MIME = 'application/vnd.assethub.pin.v1+json';

/** What a pin output carries. */
export interface IPinRecord {
  ref: string;
  asset: string;
  commit: string;
  dir: string;
  lock: string;
}

const PIN_LINE = /^(\s*%asset\s+pin\s+)(\S+)(.*)$/;

/** The asset part of `owner/type/folder/name[:ref]`. */
export function assetOf(ref: string): string {
  const colon = ref.indexOf(':');
  return colon === -1 ? ref : ref.slice(0, colon);
}

/** The line that pins `ref`. */
export function pinLine(ref: string): string {
  return `%asset pin ${ref}`;
}

const LOAD_LINE = '%load_ext assethub_ext';

/**
 * The source of a new first cell that pins `ref`. It loads the magics itself: nothing above
 * the first cell can have (loading them again is harmless).
 */
export function newPinCell(ref: string): string {
  return `${LOAD_LINE}\n${pinLine(ref)}`;
}

/**
 * `source` with its pin of the same asset as `ref` moved to `ref` (other options on the line
 * kept, `--update` added so the kernel moves the pin), or null when it pins no such asset.
 */
export function updatePinSource(source: string, ref: string): string | null {
  let found = false;
  const lines = source.split('\n').map(line => {
    const match = PIN_LINE.exec(line);
    if (!match || assetOf(match[2]) !== assetOf(ref)) {
      return line;
    }
    found = true;
    const rest = match[3].includes('--update') ? match[3] : `${match[3]} --update`;
    return `${match[1]}${ref}${rest}`;
  });
  return found ? lines.join('\n') : null;
}

/** A pin record from an output's MIME bundle, or null when it carries none. */
export function pinFromBundle(data: Record<string, unknown> | undefined): IPinRecord | null {
  const record = data?.[PIN_MIME];
  if (!record || typeof record !== 'object') {
    return null;
  }
  const { ref, asset, commit, dir, lock } = record as Record<string, unknown>;
  if ([ref, asset, commit, dir, lock].some(v => typeof v !== 'string')) {
    return null;
  }
  return record as IPinRecord;
}

/** `pins` (keyed by asset) with `record` added or replacing the asset's earlier pin. */
export function mergePin(
  pins: Record<string, IPinRecord> | undefined,
  record: IPinRecord
): Record<string, IPinRecord> {
  return { ...(pins ?? {}), [record.asset]: record };
}
