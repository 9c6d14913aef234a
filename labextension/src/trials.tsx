// Katib trials: a table, a parallel-coordinates plot (SVG) and the best trial.
import * as React from 'react';

import { StateBadge } from './common';
import {
  IBestTrial,
  IPlotGeometry,
  ITrial,
  ITrialPlot,
  LINES_EACH_UP_TO,
  lineColour,
  plotGeometry,
  plotPaths,
  visibleRows
} from './model';

export interface IObjective {
  metric: string | null;
  type: string | null;
  goal: number | null;
  parameters: Array<{ name: string }>;
}

const SIZE = { width: 300, height: 180, margin: 24 };
/** Rows of the trials table in view at once; the table scrolls beyond them. */
const ROWS_IN_VIEW = 15;
/** A row's height before one is measured (CSS: .jp-mlops-trials-table tr). */
const ROW_HEIGHT = 22;
const OVERSCAN = 10;

/** Draws the plot the jobs API computed (see ITrialPlot); nothing is decided here. */
export function TrialsPlot(props: { plot: ITrialPlot | undefined; metric: string }): JSX.Element | null {
  const { plot, metric } = props;
  const geometry = React.useMemo(() => (plot ? plotGeometry(plot, SIZE) : null), [plot]);
  if (!plot || !geometry || plot.lines.length === 0) {
    return (
      <p className="jp-mlops-muted">
        The plot appears when trials report {metric ? `“${metric}”` : 'the objective metric'}.
      </p>
    );
  }
  const each = geometry.lines.length <= LINES_EACH_UP_TO;
  return (
    <svg
      className="jp-mlops-parcoords"
      data-testid="mlops-trials-plot"
      viewBox={`0 0 ${SIZE.width} ${SIZE.height}`}
      role="img"
      aria-label={`Parallel coordinates of ${geometry.lines.length} trials`}
    >
      {each
        ? geometry.lines.map(
            (line, i) => !line.best && <TrialLine key={line.trial} axes={plot.axes} values={plot.lines[i].values} line={line} />
          )
        : plotPaths(geometry.lines).map(path => (
            <path
              key={`${path.colour}/${path.complete}`}
              className="jp-mlops-lines"
              d={path.d}
              stroke={path.colour}
              strokeDasharray={path.complete ? undefined : '4 3'}
            />
          ))}
      {geometry.lines.map(
        (line, i) => line.best && <TrialLine key={line.trial} axes={plot.axes} values={plot.lines[i].values} line={line} />
      )}
      {geometry.axes.map(axis => (
        <g key={axis.name} className="jp-mlops-axis">
          <line x1={axis.x} x2={axis.x} y1={SIZE.margin} y2={SIZE.height - SIZE.margin} />
          <text x={axis.x} y={SIZE.margin - 10} textAnchor="middle" className="jp-mlops-axis-name">
            {axis.name}
          </text>
          <text x={axis.x} y={SIZE.margin - 1} textAnchor="middle">
            {axis.top}
          </text>
          <text x={axis.x} y={SIZE.height - SIZE.margin + 10} textAnchor="middle">
            {axis.bottom}
          </text>
        </g>
      ))}
    </svg>
  );
}

/** One trial's line, titled with its values (the best one is always drawn so, on top). */
function TrialLine(props: {
  axes: ITrialPlot['axes'];
  values: ITrialPlot['lines'][number]['values'];
  line: IPlotGeometry['lines'][number];
}): JSX.Element {
  const { axes, values, line } = props;
  const described = axes
    .map((axis, a) => (values[a] == null ? null : `${axis.name}=${values[a]}`))
    .filter(v => v !== null)
    .join(', ');
  return (
    <polyline
      data-trial={line.trial}
      className={line.best ? 'jp-mlops-line-best' : 'jp-mlops-line'}
      points={line.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}
      stroke={lineColour(line.score)}
      strokeDasharray={line.complete ? undefined : '4 3'}
    >
      <title>
        {line.trial}: {described}
      </title>
    </polyline>
  );
}

/**
 * The trials, a row each, of which only those scrolled into view (and a few
 * around them) are in the page: a sweep of 1,000 trials costs the rows of one
 * screen, not 1,000.
 */
function TrialsTable(props: { trials: ITrial[]; names: string[]; metric: string }): JSX.Element {
  const { trials, names, metric } = props;
  const [scrollTop, setScrollTop] = React.useState(0);
  const [rowHeight, setRowHeight] = React.useState(ROW_HEIGHT);
  const body = React.useRef<HTMLTableSectionElement>(null);
  const { first, last } = visibleRows(scrollTop, ROWS_IN_VIEW * rowHeight, rowHeight, trials.length, OVERSCAN);
  const columns = 2 + names.length + (metric ? 1 : 0);
  const drawn = trials.length > 0;
  React.useLayoutEffect(() => {
    // Rows are as tall as the theme's font makes them: measured once drawn.
    const row = body.current?.querySelector<HTMLElement>('[data-testid="mlops-trial"]');
    const measured = row?.getBoundingClientRect().height;
    if (measured && Math.abs(measured - rowHeight) > 0.5) {
      setRowHeight(measured);
    }
  }, [rowHeight, drawn]);
  const spacer = (rows: number, key: string) =>
    rows > 0 && (
      <tr key={key} aria-hidden="true" style={{ height: rows * rowHeight }}>
        <td colSpan={columns} />
      </tr>
    );
  return (
    <div
      className="jp-mlops-trials-scroll"
      style={{ maxHeight: (ROWS_IN_VIEW + 1) * rowHeight }}
      onScroll={e => setScrollTop(e.currentTarget.scrollTop)}
    >
      <table className="jp-mlops-table jp-mlops-trials-table" data-testid="mlops-trials-table" aria-rowcount={trials.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            <th>Trial</th>
            <th>State</th>
            {names.map(n => (
              <th key={n}>{n}</th>
            ))}
            {metric && <th>{metric}</th>}
          </tr>
        </thead>
        <tbody ref={body}>
          {spacer(first, 'before')}
          {trials.slice(first, last).map((t, i) => (
            <tr key={t.name} data-testid="mlops-trial" aria-rowindex={first + i + 2}>
              <td>{t.name}</td>
              <td>
                <StateBadge state={t.state} />
              </td>
              {names.map(n => (
                <td key={n}>{t.parameters[n]}</td>
              ))}
              {metric && <td>{t.metrics[metric] ?? ''}</td>}
            </tr>
          ))}
          {spacer(trials.length - last, 'after')}
        </tbody>
      </table>
    </div>
  );
}

export function TrialsView(props: {
  trials: ITrial[];
  objective: IObjective | null;
  /** The jobs API's: Katib's best trial, else the best one reported so far. */
  best: IBestTrial | undefined;
  plot: ITrialPlot | undefined;
}): JSX.Element {
  const { trials, best } = props;
  const objective = props.objective ?? { metric: null, type: null, goal: null, parameters: [] };
  const metric = objective.metric ?? '';
  const names = Array.from(new Set(trials.flatMap(t => Object.keys(t.parameters))));
  return (
    <div data-testid="mlops-trials">
      <h4>
        Trials{metric && ` (${objective.type ?? 'maximize'} ${metric}${objective.goal != null ? `, goal ${objective.goal}` : ''})`}
      </h4>
      {best && (
        <p className="jp-mlops-best" data-testid="mlops-best-trial">
          Best trial <strong>{best.name}</strong>:{' '}
          {Object.entries(best.parameters)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}
          {metric && best.metrics[metric] != null && ` → ${metric} ${best.metrics[metric]}`}
        </p>
      )}
      <TrialsPlot plot={props.plot} metric={metric} />
      {trials.length === 0 ? (
        <p className="jp-mlops-muted">No trial has started yet; Katib creates them as the sweep runs.</p>
      ) : (
        <TrialsTable trials={trials} names={names} metric={metric} />
      )}
    </div>
  );
}
