// Katib trials: a table, a parallel-coordinates plot (SVG) and the best trial.
import * as React from 'react';

import { StateBadge } from './common';
import { IBestTrial, ITrial, ITrialPlot, plotGeometry } from './model';

export interface IObjective {
  metric: string | null;
  type: string | null;
  goal: number | null;
  parameters: Array<{ name: string }>;
}

const SIZE = { width: 300, height: 180, margin: 24 };

/** Draws the plot the jobs API computed (see ITrialPlot); nothing is decided here. */
export function TrialsPlot(props: { plot: ITrialPlot | undefined; metric: string }): JSX.Element | null {
  const { plot, metric } = props;
  if (!plot || plot.lines.length === 0) {
    return (
      <p className="jp-mlops-muted">
        The plot appears when trials report {metric ? `“${metric}”` : 'the objective metric'}.
      </p>
    );
  }
  const geometry = plotGeometry(plot, SIZE);
  return (
    <svg
      className="jp-mlops-parcoords"
      data-testid="mlops-trials-plot"
      viewBox={`0 0 ${SIZE.width} ${SIZE.height}`}
      role="img"
      aria-label={`Parallel coordinates of ${geometry.lines.length} trials`}
    >
      {geometry.lines.map((line, i) => {
        const shade = line.score ?? 0.5;
        const described = plot.axes
          .map((axis, a) => (plot.lines[i].values[a] === null ? null : `${axis.name}=${plot.lines[i].values[a]}`))
          .filter(v => v !== null)
          .join(', ');
        return (
          <polyline
            key={line.trial}
            data-trial={line.trial}
            className={line.best ? 'jp-mlops-line-best' : 'jp-mlops-line'}
            points={line.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}
            style={{
              stroke: `hsl(${Math.round(220 - 180 * shade)}, 70%, 45%)`,
              strokeDasharray: line.complete ? undefined : '4 3'
            }}
          >
            <title>
              {line.trial}: {described}
            </title>
          </polyline>
        );
      })}
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
        <table className="jp-mlops-table">
          <thead>
            <tr>
              <th>Trial</th>
              <th>State</th>
              {names.map(n => (
                <th key={n}>{n}</th>
              ))}
              {metric && <th>{metric}</th>}
            </tr>
          </thead>
          <tbody>
            {trials.map(t => (
              <tr key={t.name} data-testid="mlops-trial">
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
          </tbody>
        </table>
      )}
    </div>
  );
}
