// Log viewer of one replica, trial or step; "follow" keeps the stream open.
import * as React from 'react';

import { ErrorMessage } from './common';
import { COLLECTION, errorText, JobKind } from './model';
import { streamAPI } from './request';

/** The viewer keeps the last this-many characters, so a chatty job cannot exhaust the page. */
const MAX_CHARS = 200000;

export function LogViewer(props: { kind: JobKind; name: string; parts: string[] }): JSX.Element {
  const [chosen, setPart] = React.useState<string>('');
  // Until the user picks one, the first part that has a pod (parts appear as the job starts).
  const part = chosen || (props.parts[0] ?? '');
  const [follow, setFollow] = React.useState(true);
  const [open, setOpen] = React.useState(false);
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [ended, setEnded] = React.useState(false);
  const pre = React.useRef<HTMLPreElement>(null);

  React.useEffect(() => {
    if (!open) {
      return;
    }
    const abort = new AbortController();
    setText('');
    setError(null);
    setEnded(false);
    const query = new URLSearchParams({ follow: String(follow), tail_lines: '2000' });
    if (part) {
      query.set('part', part);
    }
    streamAPI(
      `jobs/${COLLECTION[props.kind]}/${props.name}/logs?${query}`,
      chunk => setText(current => (current + chunk).slice(-MAX_CHARS)),
      abort.signal
    )
      .then(() => !abort.signal.aborted && setEnded(true))
      .catch(e => !abort.signal.aborted && setError(errorText(e)));
    return () => abort.abort();
  }, [open, part, follow, props.kind, props.name]);

  React.useEffect(() => {
    if (follow && pre.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text, follow]);

  return (
    <div className="jp-mlops-logs" data-testid="mlops-logs">
      <div className="jp-mlops-filters">
        <label>
          Logs of{' '}
          <select value={part} onChange={e => setPart(e.target.value)} aria-label="Logs of">
            {props.parts.map(p => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={e => setFollow(e.target.checked)} /> follow
        </label>
        <button className="jp-mlops-button" onClick={() => setOpen(!open)}>
          {open ? 'Hide logs' : 'Show logs'}
        </button>
      </div>
      {open && <ErrorMessage message={error} />}
      {open && !error && (
        <pre ref={pre} className="jp-mlops-log-text" data-testid="mlops-log-text">
          {text || (ended ? '(no output)' : 'Waiting for output…')}
        </pre>
      )}
      {open && ended && !error && follow && <p className="jp-mlops-muted">The log stream ended.</p>}
    </div>
  );
}
