import { ICommit } from '../api';
import { folderQuery } from '../components/Browser';
import { humanSize, show, shortId, when } from '../components/common';
import { columnsFor, sortCommits } from '../components/History';

function commit(id: string, created_at: number, params: ICommit['params'], metrics: ICommit['metrics']): ICommit {
  return { id, kind: 'commit', tree: 't', parents: [], author: 'alice', created_at, message: id, params, metrics, meta: {}, lineage: {} };
}

const commits = [
  commit('a', 30, { lr: 0.1 }, { acc: 0.9 }),
  commit('b', 10, { lr: 0.01, depth: 3 }, { acc: 0.95, loss: 0.2 }),
  commit('c', 20, {}, { acc: 0.5 })
];

describe('history table', () => {
  it('has the fixed columns then every param and metric key, sorted', () => {
    expect(columnsFor(commits).map(c => c.label)).toEqual([
      'commit', 'time', 'author', 'message', 'depth', 'lr', 'acc', 'loss'
    ]);
  });

  it('sorts numbers as numbers, both ways, without touching its input', () => {
    const acc = columnsFor(commits).find(c => c.label === 'acc')!;
    expect(sortCommits(commits, acc, true).map(c => c.id)).toEqual(['c', 'a', 'b']);
    expect(sortCommits(commits, acc, false).map(c => c.id)).toEqual(['b', 'a', 'c']);
    expect(commits.map(c => c.id)).toEqual(['a', 'b', 'c']);
  });

  it('puts commits without the value last, whichever the direction', () => {
    const depth = columnsFor(commits).find(c => c.label === 'depth')!;
    expect(sortCommits(commits, depth, false).map(c => c.id)).toEqual(['b', 'a', 'c']);
    expect(sortCommits(commits, depth, true).map(c => c.id)).toEqual(['b', 'a', 'c']);
  });
});

describe('values as text', () => {
  it('shows strings as they are and the rest as JSON, a dash for nothing', () => {
    expect(show('x')).toBe('x');
    expect(show(0.5)).toBe('0.5');
    expect(show({ a: [1] })).toBe('{"a":[1]}');
    expect(show(null)).toBe('–');
    expect(show(undefined)).toBe('–');
  });

  it('sizes in binary units', () => {
    expect(humanSize(null)).toBe('–');
    expect(humanSize(1023)).toBe('1023 B');
    expect(humanSize(1536)).toBe('1.5 KiB');
    expect(humanSize(5 * 1024 ** 3)).toBe('5.0 GiB');
  });

  it('times in UTC to the minute, ids cut to ten characters', () => {
    expect(when(0)).toBe('1970-01-01 00:00');
    expect(shortId('0123456789abcdef')).toBe('0123456789');
  });
});

describe('folderQuery', () => {
  it('splits a folder path into the parts the API filters by', () => {
    expect(folderQuery('alice/dataset/cv', undefined)).toEqual({ owner: 'alice', type: 'dataset', folder: 'cv', q: undefined });
    expect(folderQuery(undefined, 'dig')).toEqual({ owner: undefined, type: undefined, folder: undefined, q: 'dig' });
  });
});
