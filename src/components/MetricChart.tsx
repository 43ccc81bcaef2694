/** A chosen metric over the commits of an asset's branches, several branches overlaid. */
import * as React from 'react';

import { api, ICommit } from '../api';
import { branchSeries, numericMetrics } from '../chart';
import { Pending, useLoad, when } from './common';
import { LineChart } from './LineChart';

const MAX_LINES = 6;

export function MetricChart(props: { asset: string; branches: string[]; openCommit: (ref: string) => void }): JSX.Element | null {
  const [shown, setShown] = React.useState<string[]>(props.branches.slice(0, 3));
  const [metric, setMetric] = React.useState('');
  const loaded = useLoad(
    () =>
      Promise.all(
        shown.map(async name => ({ name, commits: (await api.log(`${props.asset}:${name}`)).commits as ICommit[] }))
      ),
    `${props.asset}|${shown.join(',')}`
  );
  const toggle = (name: string) =>
    setShown(s => (s.includes(name) ? s.filter(n => n !== name) : [...s, name].slice(-MAX_LINES)));
  const names = numericMetrics((loaded.data ?? []).flatMap(l => l.commits));
  const chosen = names.includes(metric) ? metric : names[0] ?? '';
  return (
    <div className="jp-AssetHub-metric-chart">
      <div className="jp-AssetHub-chart-controls">
        <select className="jp-mod-styled" aria-label="Metric to chart" value={chosen} onChange={e => setMetric(e.target.value)}>
          {names.map(n => (
            <option key={n}>{n}</option>
          ))}
        </select>
        {props.branches.length > 1 &&
          props.branches.map(name => (
            <label key={name} className="jp-AssetHub-check">
              <input type="checkbox" checked={shown.includes(name)} onChange={() => toggle(name)} /> {name}
            </label>
          ))}
      </div>
      {!loaded.data ? (
        <Pending loaded={loaded} />
      ) : chosen ? (
        <LineChart
          series={branchSeries(loaded.data, chosen)}
          label={chosen}
          formatX={x => when(x).slice(5)}
          open={commit => props.openCommit(`${props.asset}:${commit}`)}
        />
      ) : (
        <div className="jp-AssetHub-status">No numeric metrics on these branches.</div>
      )}
    </div>
  );
}
