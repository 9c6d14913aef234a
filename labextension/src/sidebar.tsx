// The MLOps sidebar: which server extension answered, then three views —
// Overview (cluster GPUs and my jobs, or one job's detail), Submit and SSH.
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { JobDetail } from './detail';
import { GpusPanel } from './gpus';
import { JobsPanel } from './jobs';
import { JobKind } from './model';
import { requestAPI } from './request';
import { SshPanel } from './ssh';
import { SubmitPanel } from './submit';

export interface IServerInfo {
  name: string;
  version: string;
  user: string;
  server_time: string;
}

type State =
  | { kind: 'loading' }
  | { kind: 'ready'; info: IServerInfo }
  | { kind: 'error'; message: string };

export function ConnectionStatus(): JSX.Element {
  const [state, setState] = React.useState<State>({ kind: 'loading' });
  React.useEffect(() => {
    let cancelled = false;
    requestAPI<IServerInfo>('info')
      .then(info => !cancelled && setState({ kind: 'ready', info }))
      .catch(error => !cancelled && setState({ kind: 'error', message: String(error.message ?? error) }));
    return () => {
      cancelled = true;
    };
  }, []);

  switch (state.kind) {
    case 'loading':
      return <p className="jp-mlops-muted">Connecting to the MLOps server extension…</p>;
    case 'error':
      return (
        <p className="jp-mlops-error" role="alert">
          Could not reach the MLOps server extension: {state.message}. Check that
          the jupyter_mlops server extension is enabled (jupyter server extension list).
        </p>
      );
    case 'ready':
      return (
        <p className="jp-mlops-connected" data-testid="mlops-connected">
          Connected to {state.info.name} {state.info.version} as{' '}
          <strong>{state.info.user}</strong>
        </p>
      );
  }
}

export type View = 'overview' | 'submit' | 'ssh';

const VIEW_LABEL: Record<View, string> = { overview: 'GPUs & jobs', submit: 'Submit', ssh: 'SSH' };

export class MlopsSidebar extends ReactWidget {
  /**
   * @param currentPath the path of the document open in the main area, if
   *   any (the Submit view offers it as the file to run).
   */
  constructor(private readonly currentPath: () => string | null) {
    super();
    this.id = 'jupyter-mlops-sidebar';
    this.addClass('jp-mlops-sidebar');
  }

  /** Switch to a view; closes any open job detail. */
  showView(view: View): void {
    this._view = view;
    this._job = null;
    this.update();
  }

  /** Open the detail of one job. */
  openJob(kind: JobKind, name: string): void {
    this._view = 'overview';
    this._job = { kind, name };
    this.update();
  }

  render(): JSX.Element {
    const job = this._job;
    return (
      <div className="jp-mlops-panel">
        <h2 className="jp-mlops-title">MLOps</h2>
        <ConnectionStatus />
        <nav className="jp-mlops-tabs" role="tablist">
          {(Object.keys(VIEW_LABEL) as View[]).map(view => (
            <button
              key={view}
              role="tab"
              className="jp-mlops-tab"
              aria-selected={this._view === view}
              onClick={() => this.showView(view)}
            >
              {VIEW_LABEL[view]}
            </button>
          ))}
        </nav>
        {this._view === 'overview' && job && (
          <JobDetail
            key={`${job.kind}/${job.name}`}
            kind={job.kind}
            name={job.name}
            onBack={() => this.showView('overview')}
            onOpen={(kind, name) => this.openJob(kind, name)}
          />
        )}
        {this._view === 'overview' && !job && (
          <>
            <GpusPanel />
            <JobsPanel onOpen={(kind, name) => this.openJob(kind, name)} onSubmit={() => this.showView('submit')} />
          </>
        )}
        {this._view === 'submit' && (
          <SubmitPanel currentPath={this.currentPath} onOpen={(kind, name) => this.openJob(kind, name)} />
        )}
        {this._view === 'ssh' && <SshPanel />}
      </div>
    );
  }

  private _view: View = 'overview';
  private _job: { kind: JobKind; name: string } | null = null;
}
