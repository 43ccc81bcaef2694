/** A small SVG line chart: one line with dots per series, axes with round ticks, a legend. */
import * as React from 'react';

import { extent, ISeries, pathOf, scale, ticks } from '../chart';

const WIDTH = 300;
const HEIGHT = 170;
const LEFT = 44;
const BOTTOM = 22;
const TOP = 8;
const RIGHT = 8;

export interface ILineChartProps {
  series: ISeries[];
  /** Label of the vertical axis (the metric). */
  label: string;
  /** How an x value reads on the axis and in tooltips. */
  formatX: (x: number) => string;
  /** Called with a dot's commit when it is clicked. */
  open?: (commit: string) => void;
}

function short(value: number): string {
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(1)
    : String(Number(value.toPrecision(3)));
}

export function LineChart(props: ILineChartProps): JSX.Element {
  const all = props.series.flatMap(s => s.points);
  if (all.length === 0) {
    return <div className="jp-AssetHub-status">No {props.label} values to chart.</div>;
  }
  const xDomain = extent(all.map(p => p.x));
  const yDomain = extent(all.map(p => p.y));
  const x = scale(xDomain, [LEFT, WIDTH - RIGHT]);
  const y = scale(yDomain, [HEIGHT - BOTTOM, TOP]);
  return (
    <figure className="jp-AssetHub-chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width="100%"
        style={{ maxWidth: WIDTH }}
        role="img"
        aria-label={`${props.label} chart`}
      >
        <g className="jp-AssetHub-axis">
          <line x1={LEFT} y1={HEIGHT - BOTTOM} x2={WIDTH - RIGHT} y2={HEIGHT - BOTTOM} />
          <line x1={LEFT} y1={TOP} x2={LEFT} y2={HEIGHT - BOTTOM} />
          {ticks(yDomain).map(v => (
            <text key={`y${v}`} x={LEFT - 4} y={y(v) + 3} textAnchor="end">
              {short(v)}
            </text>
          ))}
          {ticks(xDomain, 3).map(v => (
            <text key={`x${v}`} x={x(v)} y={HEIGHT - 6} textAnchor="middle">
              {props.formatX(v)}
            </text>
          ))}
        </g>
        {props.series.map((s, i) => (
          <g key={s.name} className={`jp-AssetHub-series jp-AssetHub-series-${i % 6}`} data-series={s.name}>
            <path d={pathOf(s.points.map(p => ({ x: x(p.x), y: y(p.y) })))} />
            {s.points.map(p => (
              <circle
                key={`${p.commit ?? ''}${p.x}`}
                className="jp-AssetHub-point"
                cx={x(p.x)}
                cy={y(p.y)}
                r={3}
                tabIndex={props.open && p.commit ? 0 : undefined}
                onClick={() => p.commit && props.open?.(p.commit)}
                onKeyDown={e => e.key === 'Enter' && p.commit && props.open?.(p.commit)}
              >
                <title>{`${s.name} · ${props.formatX(p.x)} · ${props.label} ${p.y}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <figcaption className="jp-AssetHub-legend">
        {props.series.map((s, i) => (
          <span key={s.name} className={`jp-AssetHub-series-${i % 6}`}>
            <span className="jp-AssetHub-swatch" /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
