/**
 * A model's sweep studies (branches `sweeps/<study>/<trial>`), and one study: its trials,
 * the objective over steps per trial, and PBT's family tree (who exploited whom).
 */
import * as React from 'react';

import { api, IStudy, ITrial } from '../api';
import { trialSeries } from '../chart';
import { familyTree, TREE_LEFT } from '../sweep';
import { Heading, Pending, shortId, show, useLoad, when } from './common';
import { LineChart } from './LineChart';

export interface ISweepProps {
  path: string;
  openCommit: (ref: string) => void;
}

/** The studies of a model, as links to the sweep view; nothing when it has none. */
export function Studies(props: { path: string; open: (study: string) => void }): JSX.Element | null {
  const loaded = useLoad(() => api.studies(props.path), props.path);
  if (!loaded.data || loaded.data.studies.length === 0) {
    return loaded.error ? <Pending loaded={loaded} /> : null;
  }
  return (
    <>
      <Heading>Sweeps</Heading>
      <ul className="jp-AssetHub-list">
        {loaded.data.studies.map(s => (
          <li key={s.study}>
            <button className="jp-AssetHub-link jp-AssetHub-study" data-study={s.study} onClick={() => props.open(s.study)}>
              {s.study}
            </button>
            <span className="jp-AssetHub-dim">
              {' '}
              {s.trials} trials · {when(s.updated_at)}
            </span>
          </li>
        ))}
      </ul>
    </>
  );
}

/** Numbers to four significant digits (a perturbed 0.1 * 3 reads 0.3, not 0.30000000000000004). */
export function rounded(value: unknown): unknown {
  return typeof value === 'number' ? Number(value.toPrecision(4)) : value;
}

function TrialsTable(props: { study: IStudy; open: (commit: string) => void }): JSX.Element {
  const { study } = props;
  const params = Array.from(new Set(study.trials.flatMap(t => Object.keys(t.params)))).sort();
  const best = (t: ITrial) => t.best && (
    <button className="jp-AssetHub-link" onClick={() => props.open(t.best!.commit)}>
      {show(t.best.value)}
    </button>
  );
  return (
    <table className="jp-AssetHub-table jp-AssetHub-trials">
      <thead>
        <tr>
          <th>trial</th>
          {params.map(p => (
            <th key={p}>{p}</th>
          ))}
          <th>best {study.metric}</th>
          <th>last step</th>
          <th>checkpoints</th>
          <th>exploits</th>
        </tr>
      </thead>
      <tbody>
        {study.trials.map(t => (
          <tr key={t.trial} data-trial={t.trial} className={study.best?.trial === t.trial ? 'jp-AssetHub-best' : ''}>
            <th>{t.trial}</th>
            {params.map(p => (
              <td key={p}>{show(rounded(t.params[p]))}</td>
            ))}
            <td>{best(t)}</td>
            <td>{show(t.last_step)}</td>
            <td>{t.checkpoints}</td>
            <td>{t.exploits}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** PBT's family tree: a row per trial, exploit edges from the donor checkpoint to the loser. */
export function FamilyTree(props: { study: IStudy; open: (commit: string) => void }): JSX.Element | null {
  if (props.study.edges.length === 0) {
    return null;
  }
  const tree = familyTree(props.study, 300);
  return (
    <svg
      className="jp-AssetHub-family"
      viewBox={`0 0 ${tree.width} ${tree.height}`}
      width="100%"
      style={{ maxWidth: tree.width }}
      role="img"
      aria-label="Family tree"
    >
      {tree.rows.map(r => (
        <text key={r.trial} x={4} y={r.y + 4} className="jp-AssetHub-dim">
          {r.trial.slice(0, 8)}
        </text>
      ))}
      {tree.links.map(l => (
        <line
          key={`${l.from.commit}-${l.to.commit}`}
          className={`jp-AssetHub-edge jp-AssetHub-edge-${l.kind}`}
          x1={l.from.x}
          y1={l.from.y}
          x2={l.to.x}
          y2={l.to.y}
        />
      ))}
      {tree.nodes.map(n => (
        <circle
          key={n.commit}
          className={`jp-AssetHub-point${n.exploit ? ' jp-AssetHub-exploit' : ''}`}
          cx={n.x}
          cy={n.y}
          r={n.exploit ? 4 : 3}
          tabIndex={0}
          onClick={() => props.open(n.commit)}
          onKeyDown={e => e.key === 'Enter' && props.open(n.commit)}
        >
          <title>{`${n.trial} step ${n.step} ${shortId(n.commit)}${n.exploit ? ' (exploit)' : ''}`}</title>
        </circle>
      ))}
      <line x1={TREE_LEFT - 4} y1={0} x2={TREE_LEFT - 4} y2={tree.height} className="jp-AssetHub-axis-line" />
    </svg>
  );
}

export function SweepView(props: ISweepProps & { study: string }): JSX.Element {
  const [metric, setMetric] = React.useState<string | undefined>(undefined);
  const loaded = useLoad(() => api.study(props.path, props.study, metric), `${props.path}|${props.study}|${metric}`);
  if (!loaded.data) {
    return <Pending loaded={loaded} />;
  }
  const study = loaded.data;
  const open = (commit: string) => props.openCommit(`${props.path}:${commit}`);
  return (
    <div className="jp-AssetHub-sweep-view">
      <Heading>
        {props.path.split('/').pop()} · study {study.study}
      </Heading>
      <div className="jp-AssetHub-dim jp-AssetHub-summary">
        {study.algorithm ?? 'sweep'} · {study.trials.length} trials · {study.direction} {study.metric ?? '–'}
        {study.best && ` · best ${show(study.best.value)} (${study.best.trial}, step ${show(study.best.step)})`}
        {study.truncated && ' · oldest checkpoints left out'}
      </div>
      <select className="jp-mod-styled" aria-label="Objective metric" value={study.metric ?? ''} onChange={e => setMetric(e.target.value)}>
        {study.metrics.map(m => (
          <option key={m}>{m}</option>
        ))}
      </select>
      <TrialsTable study={study} open={open} />
      <Heading>Objective by step</Heading>
      <LineChart series={trialSeries(study.trials)} label={study.metric ?? 'objective'} formatX={x => String(x)} open={open} />
      {study.edges.length > 0 && <Heading>Family tree ({study.edges.length} exploits)</Heading>}
      <FamilyTree study={study} open={open} />
    </div>
  );
}
