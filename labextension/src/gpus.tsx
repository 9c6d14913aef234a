// Cluster GPUs: free/total per GPU type and, per profile, how many servers
// fit now. Polled politely: a Lumino Poll that backs off on errors and
// stands by while the page is hidden.
import { Poll } from '@lumino/polling';
import * as React from 'react';

import { Empty, ErrorMessage } from './common';
import { availabilityUnknown, errorText, gpuBars, gpusNotice, IGpuBar, profileFits, shortGpuName } from './model';
import { requestAPI } from './request';

export const GPU_POLL_MS = 5000;

export function useGpuSnapshot(interval = GPU_POLL_MS): { snapshot: any; error: string | null } {
  const [snapshot, setSnapshot] = React.useState<any>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    const poll = new Poll({
      auto: true,
      factory: async () => {
        try {
          setSnapshot(await requestAPI<any>('gpus'));
          setError(null);
        } catch (e) {
          setError(errorText(e));
          throw e; // lets the Poll back off
        }
      },
      frequency: { interval, backoff: true, max: 60 * 1000 },
      name: 'jupyter-mlops:gpus',
      standby: 'when-hidden'
    });
    return () => poll.dispose();
  }, [interval]);
  return { snapshot, error };
}

function GpuBar(props: { bar: IGpuBar }): JSX.Element {
  const { bar } = props;
  return (
    <li className="jp-mlops-gpu" data-testid="mlops-gpu-type" data-gpu-type={bar.type}>
      <div className="jp-mlops-gpu-label">
        <span title={bar.type}>{shortGpuName(bar.type)}</span>
        <span data-testid="mlops-gpu-numbers">
          {bar.free} / {bar.total} free
        </span>
      </div>
      <div
        className="jp-mlops-bar"
        role="meter"
        aria-valuemin={0}
        aria-valuemax={bar.total}
        aria-valuenow={bar.free}
        aria-label={`${bar.type}: ${bar.free} of ${bar.total} free`}
      >
        <div className="jp-mlops-bar-fill" style={{ width: `${bar.fraction * 100}%` }} />
      </div>
      {bar.largestOnOneNode !== undefined && (
        <div className="jp-mlops-muted">at most {bar.largestOnOneNode} free on one node</div>
      )}
    </li>
  );
}

export function GpusPanel(): JSX.Element {
  const { snapshot, error } = useGpuSnapshot();
  const bars = gpuBars(snapshot);
  const fits = profileFits(snapshot);
  const notice = gpusNotice(snapshot);
  return (
    <section className="jp-mlops-section" data-testid="mlops-gpus">
      <h3>Cluster GPUs</h3>
      <ErrorMessage message={error} />
      {snapshot === null && !error && <p className="jp-mlops-muted">Asking the hub…</p>}
      {availabilityUnknown(snapshot) && (
        <p className="jp-mlops-muted" role="status">
          The hub is catching up with the cluster; GPU counts are unknown for a moment.
        </p>
      )}
      {notice && <Empty>{notice}</Empty>}
      <ul className="jp-mlops-gpus">
        {bars.map(bar => (
          <GpuBar key={bar.type} bar={bar} />
        ))}
      </ul>
      {fits.length > 0 && (
        <table className="jp-mlops-table" data-testid="mlops-profiles">
          <thead>
            <tr>
              <th>Profile</th>
              <th>Servers that fit now</th>
            </tr>
          </thead>
          <tbody>
            {fits.map(p => (
              <tr key={p.name} title={p.reason}>
                <td>{p.name}</td>
                <td>
                  {p.fits === null ? 'unknown' : p.fits}
                  {p.fits === 0 && p.reason ? ` — ${p.reason}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
