// Katib trials: a table, a parallel-coordinates plot (SVG) and the best trial.
import * as React from 'react';

import { StateBadge } from './common';
import { bestTrial, IBestTrial, ITrial, objectiveShade, parallelCoordinates } from './model';

export interface IObjective {
  metric: string | null;
  type: string | null;
  goal: number | null;
  parameters: Array<{ name: string }>;
}

const SIZE = { width: 300, height: 180, margin: 24 };

function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0)
    ? value.toExponential(1)
    : String(Number(value.toPrecision(3)));
}

export function TrialsPlot(props: { trials: ITrial[]; objective: IObjective }): JSX.Element | null {
  const { trials, objective } = props;
  const metric = objective.metric ?? '';
  const names = objective.parameters.length
    ? objective.parameters.map(p => p.name)
    : Array.from(new Set(trials.flatMap(t => Object.keys(t.parameters))));
  const plot = parallelCoordinates(trials, names, metric, SIZE);
  if (!metric || plot.lines.length === 0) {
    return (
      <p className="jp-mlops-muted">
        The plot appears when trials report {metric ? `“${metric}”` : 'the objective metric'}.
      </p>
    );
  }
  const values = plot.lines.map(l => l.objective as number);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const goal = objective.type ?? 'maximize';
  const best = bestTrial(trials, metric, goal);
  return (
    <svg
      className="jp-mlops-parcoords"
      data-testid="mlops-trials-plot"
      viewBox={`0 0 ${SIZE.width} ${SIZE.height}`}
      role="img"
      aria-label={`Parallel coordinates of ${plot.lines.length} trials`}
    >
      {plot.lines.map(line => {
        const shade = objectiveShade(line.objective, min, max, goal);
        const isBest = best !== null && line.trial === best.name;
        return (
          <polyline
            key={line.trial}
            data-trial={line.trial}
            className={isBest ? 'jp-mlops-line-best' : 'jp-mlops-line'}
            points={line.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}
            style={{ stroke: `hsl(${Math.round(220 - 180 * shade)}, 70%, 45%)` }}
          >
            <title>
              {line.trial}: {metric} = {line.objective}
            </title>
          </polyline>
        );
      })}
      {plot.axes.map(axis => (
        <g key={axis.name} className="jp-mlops-axis">
          <line x1={axis.x} x2={axis.x} y1={SIZE.margin} y2={SIZE.height - SIZE.margin} />
          <text x={axis.x} y={SIZE.margin - 10} textAnchor="middle" className="jp-mlops-axis-name">
            {axis.name}
          </text>
          <text x={axis.x} y={SIZE.margin - 1} textAnchor="middle">
            {axis.categories ? axis.categories[axis.categories.length - 1] : formatTick(axis.max as number)}
          </text>
          <text x={axis.x} y={SIZE.height - SIZE.margin + 10} textAnchor="middle">
            {axis.categories ? axis.categories[0] : formatTick(axis.min as number)}
          </text>
        </g>
      ))}
    </svg>
  );
}

export function TrialsView(props: {
  trials: ITrial[];
  objective: IObjective | null;
  best: IBestTrial | undefined;
}): JSX.Element {
  const { trials } = props;
  const objective = props.objective ?? { metric: null, type: null, goal: null, parameters: [] };
  const metric = objective.metric ?? '';
  const computed = metric ? bestTrial(trials, metric, objective.type ?? 'maximize') : null;
  const best = props.best ?? (computed ? { name: computed.name, parameters: computed.parameters, metrics: computed.metrics } : undefined);
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
      <TrialsPlot trials={trials} objective={objective} />
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
