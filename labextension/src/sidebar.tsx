// The MLOps sidebar. At this stage it shows which server extension answered;
// the cluster, jobs and SSH panels grow here.
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { requestAPI } from './request';

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

export class MlopsSidebar extends ReactWidget {
  constructor() {
    super();
    this.id = 'jupyter-mlops-sidebar';
    this.addClass('jp-mlops-sidebar');
  }

  render(): JSX.Element {
    return (
      <div className="jp-mlops-panel">
        <h2 className="jp-mlops-title">MLOps</h2>
        <ConnectionStatus />
      </div>
    );
  }
}
