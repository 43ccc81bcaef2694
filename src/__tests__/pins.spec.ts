import { assetOf, mergePin, newPinCell, pinFromBundle, pinLine, PIN_MIME, updatePinSource } from '../pins';

const A = 'alice/dataset/cv/digits';
const record = { ref: `${A}:v1`, asset: A, commit: 'c1', dir: 'data/digits', lock: 'nb.assethub.lock' };

describe('assetOf', () => {
  it('drops the ref after the first colon', () => {
    expect(assetOf(`${A}:v2`)).toBe(A);
    expect(assetOf(A)).toBe(A);
    expect(assetOf(`${A}:odd:name`)).toBe(A);
  });
});

describe('pin cells', () => {
  it('loads the magics before the pin in a new first cell', () => {
    expect(newPinCell(`${A}:v1`)).toBe(`%load_ext assethub_ext\n${pinLine(`${A}:v1`)}`);
  });

  it('moves the pin of the same asset and asks the kernel to update', () => {
    const source = `%load_ext assethub_ext\n%asset pin ${A}:v1 --dir data`;
    expect(updatePinSource(source, `${A}:v2`)).toBe(
      `%load_ext assethub_ext\n%asset pin ${A}:v2 --dir data --update`
    );
  });

  it('does not add --update twice', () => {
    const source = `%asset pin ${A}:v1 --update`;
    expect(updatePinSource(source, `${A}:v3`)).toBe(`%asset pin ${A}:v3 --update`);
  });

  it('leaves pins of other assets and other lines alone', () => {
    const other = 'alice/dataset/cv/mnist:v1';
    const source = `x = 1\n%asset pin ${other}\n# %asset pin is a comment here`;
    expect(updatePinSource(source, `${A}:v2`)).toBeNull();
  });

  it('keeps the indentation of the line it moves', () => {
    expect(updatePinSource(`  %asset   pin ${A}`, `${A}:v2`)).toBe(`  %asset   pin ${A}:v2 --update`);
  });
});

describe('pinFromBundle', () => {
  it('reads a complete record', () => {
    expect(pinFromBundle({ [PIN_MIME]: record, 'text/plain': 'pinned' })).toEqual(record);
  });

  it.each([
    ['no bundle', undefined],
    ['no pin in it', { 'text/plain': 'x' }],
    ['not an object', { [PIN_MIME]: 'v1' }],
    ['a field missing', { [PIN_MIME]: { ...record, lock: undefined } }],
    ['a field of another type', { [PIN_MIME]: { ...record, commit: 7 } }]
  ])('refuses %s', (_, data) => {
    expect(pinFromBundle(data as Record<string, unknown> | undefined)).toBeNull();
  });
});

describe('mergePin', () => {
  it('adds a pin and replaces the same asset\'s earlier one, leaving the input alone', () => {
    const first = mergePin(undefined, record);
    const moved = { ...record, ref: `${A}:v2`, commit: 'c2' };
    const other = { ...record, asset: 'alice/model/m/net', ref: 'alice/model/m/net:main' };
    const both = mergePin(mergePin(first, moved), other);
    expect(first).toEqual({ [A]: record });
    expect(both).toEqual({ [A]: moved, 'alice/model/m/net': other });
  });
});
