// SSH: the exact command and ~/.ssh/config block for this server, and the
// public keys registered with the SSH gateway.
import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

import { confirm, Empty, ErrorMessage } from './common';
import { errorText } from './model';
import { requestAPI } from './request';

interface ISshInfo {
  configured: boolean;
  keys_api: boolean;
  user: string;
  server: string;
  login?: string;
  command?: string;
  config?: string;
  host_alias?: string;
}

interface IKey {
  fingerprint: string;
  key: string;
  comment: string;
  added: string;
}

function Copyable(props: { text: string; testId: string }): JSX.Element {
  return (
    <div className="jp-mlops-copyable">
      <pre data-testid={props.testId}>{props.text}</pre>
      <button className="jp-mlops-button" onClick={() => Clipboard.copyToSystem(props.text)}>
        Copy
      </button>
    </div>
  );
}

function Keys(): JSX.Element {
  const [keys, setKeys] = React.useState<IKey[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [draft, setDraft] = React.useState('');
  const load = async () => {
    try {
      setKeys((await requestAPI<{ keys: IKey[] }>('ssh/keys')).keys);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  React.useEffect(() => void load(), []);
  const add = async () => {
    try {
      await requestAPI('ssh/keys', { method: 'POST', body: JSON.stringify({ key: draft }) });
      setDraft('');
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const remove = async (key: IKey) => {
    if (!(await confirm('Remove this key?', `${key.comment || key.fingerprint} can no longer log in.`, 'Remove'))) {
      return;
    }
    try {
      await requestAPI(`ssh/keys/${encodeURIComponent(key.fingerprint)}`, { method: 'DELETE' });
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div data-testid="mlops-ssh-keys">
      <h4>Your public keys</h4>
      <ErrorMessage message={error} />
      {keys !== null && keys.length === 0 && (
        <Empty>No key yet: paste the content of ~/.ssh/id_ed25519.pub from your laptop below.</Empty>
      )}
      <ul className="jp-mlops-keys">
        {(keys ?? []).map(k => (
          <li key={k.fingerprint}>
            <code title={k.key}>{k.fingerprint}</code> {k.comment}{' '}
            <button className="jp-mlops-button" onClick={() => void remove(k)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <textarea
        rows={2}
        value={draft}
        placeholder="ssh-ed25519 AAAA… you@laptop"
        aria-label="Public key"
        onChange={e => setDraft(e.target.value)}
      />
      <button className="jp-mlops-button" disabled={!draft.trim()} onClick={() => void add()}>
        Add key
      </button>
    </div>
  );
}

export function SshPanel(): JSX.Element {
  const [info, setInfo] = React.useState<ISshInfo | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    requestAPI<ISshInfo>('ssh')
      .then(setInfo)
      .catch(e => setError(errorText(e)));
  }, []);
  return (
    <section className="jp-mlops-section" data-testid="mlops-ssh">
      <h3>SSH</h3>
      <ErrorMessage message={error} />
      {info && !info.configured && (
        <Empty>
          SSH access is not set up for this server (the operator sets MlopsSsh.gateway_host). Use the terminal in
          JupyterLab meanwhile.
        </Empty>
      )}
      {info && info.configured && (
        <>
          <p>Connect from your laptop:</p>
          <Copyable text={info.command ?? ''} testId="mlops-ssh-command" />
          <p>
            Or add this to <code>~/.ssh/config</code> and run <code>ssh {info.host_alias}</code> (also for VS Code
            Remote-SSH):
          </p>
          <Copyable text={info.config ?? ''} testId="mlops-ssh-config" />
        </>
      )}
      {info && info.keys_api && <Keys />}
      {info && !info.keys_api && (
        <Empty>Keys are managed on the hub here: this server does not know the SSH gateway's key API.</Empty>
      )}
    </section>
  );
}
