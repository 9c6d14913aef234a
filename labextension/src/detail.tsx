// Job detail: status, conditions, events, replicas / trials / steps, logs,
// and the actions cancel, delete and resubmit (each confirmed first).
import { Poll } from '@lumino/polling';
import * as React from 'react';

import { confirm, ErrorMessage, sleep, StateBadge, useNow } from './common';
import { LogViewer } from './logs';
import {
  COLLECTION,
  errorText,
  FINISHED_STATES,
  formatAge,
  formatCreated,
  formatGpus,
  IJobSummary,
  ITrial,
  ITrialPlot,
  IWatchEvent,
  JobKind,
  JobState,
  KIND_LABEL,
  parseSse
} from './model';
import { requestAPI, streamAPI } from './request';
import { IObjective, TrialsView } from './trials';

interface IPart {
  name: string;
  pod?: string | null;
  pods?: string[];
  phase?: string;
  state?: JobState;
  node?: string | null;
  type?: string;
  message?: string;
  started?: string | null;
  parameters?: Record<string, string>;
  metrics?: Record<string, string | null>;
}

interface IStatus extends IJobSummary {
  part_noun: string;
  parts: IPart[];
  /** Sweeps only. */
  plot?: ITrialPlot;
}

interface IExtras {
  gpus: number;
  gpu_type: string | null;
  conditions: Array<{ type: string; status: string; reason: string; message: string; time: string | null }>;
  objective: IObjective | null;
}

interface IEvent {
  type: string;
  reason: string;
  message: string;
  object: string;
  count: number;
  time: string | null;
}

const DETAIL_POLL_MS = 5000;

function useJobDetail(kind: JobKind, name: string) {
  const path = `jobs/${COLLECTION[kind]}/${name}`;
  const [status, setStatus] = React.useState<IStatus | null>(null);
  const [extras, setExtras] = React.useState<IExtras | null>(null);
  const [events, setEvents] = React.useState<IEvent[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const [deleted, setDeleted] = React.useState(false);
  const pollRef = React.useRef<Poll | null>(null);

  React.useEffect(() => {
    setStatus(null);
    setDeleted(false);
    // Parts (pods, trials, steps) change without the job object changing:
    // a polite poll reads them; the watch below moves the badge at once.
    // A refresh (after a watch event) can overtake a slower tick already
    // under way: only the answer of the latest tick is shown.
    let latest = 0;
    const poll = new Poll({
      auto: true,
      factory: async () => {
        const asked = ++latest;
        // The three reads go out together; the status and its extras are shown as
        // soon as both are in, without waiting for the events (the slowest read:
        // a sweep's events are its trials' too), which follow when they arrive.
        const eventsRead = requestAPI<{ events: IEvent[] }>(`${path}/events`);
        eventsRead.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        try {
          const [s, x] = await Promise.all([requestAPI<IStatus>(path), requestAPI<IExtras>(`sidebar/${path}`)]);
          if (asked !== latest) {
            return;
          }
          setStatus(s);
          setExtras(x);
          const e = await eventsRead;
          if (asked !== latest) {
            return;
          }
          setEvents(e.events);
          setError(null);
        } catch (e) {
          if (asked === latest) {
            setError(errorText(e));
          }
          throw e;
        }
      },
      frequency: { interval: DETAIL_POLL_MS, backoff: true, max: 60 * 1000 },
      name: 'jupyter-mlops:job-detail',
      standby: 'when-hidden'
    });
    pollRef.current = poll;
    const abort = new AbortController();
    // The watch moves the badge as soon as the controller writes; it is
    // reopened when the server ends it, and the poll covers any gap.
    const watch = async () => {
      let delay = 1000;
      while (!abort.signal.aborted) {
        let buffer = '';
        let deletedNow = false;
        try {
          await streamAPI(
            `${path}/watch?timeout=300`,
            text => {
              const { messages, rest } = parseSse(buffer + text);
              buffer = rest;
              for (const m of messages.filter(x => x.event === 'job')) {
                const event = JSON.parse(m.data) as IWatchEvent;
                if (event.type === 'DELETED') {
                  deletedNow = true;
                  setDeleted(true);
                  continue;
                }
                setStatus(current => (current ? { ...current, ...event.job } : current));
                if (event.type === 'MODIFIED') {
                  void poll.refresh();
                }
              }
            },
            abort.signal
          );
          delay = 1000;
        } catch {
          await sleep(delay); // a 404 or a broken stream: the poll shows the error
          delay = Math.min(delay * 2, 30000);
        }
        if (deletedNow) {
          return;
        }
      }
    };
    void watch();
    return () => {
      abort.abort();
      poll.dispose();
    };
  }, [path]);

  const refresh = () => void pollRef.current?.refresh();
  return { status, extras, events, error, deleted, refresh, setError };
}

function partState(part: IPart): string {
  return part.state ?? part.phase ?? 'Pending';
}

function Parts(props: { kind: JobKind; status: IStatus }): JSX.Element | null {
  const { kind, status } = props;
  if (kind === 'sweep') {
    return null; // trials have their own view
  }
  const noun = status.part_noun;
  return (
    <div>
      <h4>{noun === 'step' ? 'Steps' : 'Replicas'}</h4>
      {status.parts.length === 0 ? (
        <p className="jp-mlops-muted">No {noun}s yet: the controller creates them once the job is accepted.</p>
      ) : (
        <table className="jp-mlops-table" data-testid="mlops-parts">
          <thead>
            <tr>
              <th>{noun}</th>
              <th>Phase</th>
              <th>{noun === 'step' ? 'Type' : 'Node'}</th>
            </tr>
          </thead>
          <tbody>
            {status.parts.map(p => (
              <tr key={p.name} title={p.message ?? ''}>
                <td>{p.name}</td>
                <td>
                  <StateBadge state={partState(p)} />
                </td>
                <td>{noun === 'step' ? p.type ?? '' : p.node ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** Names the log endpoint accepts as `part`: replicas, trials or steps that have pods. */
function logParts(kind: JobKind, status: IStatus): string[] {
  if (kind === 'sweep') {
    return status.parts.filter(p => (p.pods ?? []).length > 0).map(p => p.name);
  }
  if (kind === 'workflow') {
    return status.parts.filter(p => p.pod).map(p => p.pod as string);
  }
  return status.parts.filter(p => p.pod).map(p => p.name);
}

export function JobDetail(props: {
  kind: JobKind;
  name: string;
  onBack: () => void;
  onOpen: (kind: JobKind, name: string) => void;
}): JSX.Element {
  const { kind, name } = props;
  const { status, extras, events, error, deleted, refresh, setError } = useJobDetail(kind, name);
  const [busy, setBusy] = React.useState(false);
  const now = useNow(10000);
  const path = `jobs/${COLLECTION[kind]}/${name}`;

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    try {
      await what();
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () =>
    act(async () => {
      if (await confirm('Cancel this job?', `${name} stops; it stays listed with its logs.`, 'Cancel job')) {
        await requestAPI(`${path}/cancel`, { method: 'POST' });
        refresh();
      }
    });
  const remove = () =>
    act(async () => {
      if (await confirm('Delete this job?', `${name}, its pods and its logs are removed for good.`, 'Delete job')) {
        await requestAPI(path, { method: 'DELETE' });
        props.onBack();
      }
    });
  const resubmit = () =>
    act(async () => {
      if (await confirm('Resubmit this job?', `A copy of ${name} runs again with the same code.`, 'Resubmit')) {
        const created = await requestAPI<{ kind: JobKind; name: string }>(`${path}/resubmit`, { method: 'POST' });
        props.onOpen(created.kind, created.name);
      }
    });

  const finished = status ? FINISHED_STATES.includes(status.state) : true;
  return (
    <section className="jp-mlops-section jp-mlops-detail" data-testid="mlops-detail" data-job={`${kind}/${name}`}>
      <button className="jp-mlops-link" onClick={props.onBack}>
        ← My jobs
      </button>
      <h3>
        {name} {status && <StateBadge state={status.state} />}
      </h3>
      <ErrorMessage message={error} />
      {deleted && (
        <p className="jp-mlops-muted" role="status">
          This job was deleted.
        </p>
      )}
      {status && (
        <>
          <p className="jp-mlops-muted">
            {KIND_LABEL[kind]} · {formatCreated(status.created, now)} ·{' '}
            {formatGpus(extras?.gpus, extras?.gpu_type)}
          </p>
          {status.message && <p>{status.message}</p>}
          <div className="jp-mlops-actions">
            <button className="jp-mlops-button" disabled={busy || finished} onClick={cancel}>
              Cancel
            </button>
            <button className="jp-mlops-button" disabled={busy} onClick={resubmit}>
              Resubmit
            </button>
            <button className="jp-mlops-button jp-mlops-danger" disabled={busy} onClick={remove}>
              Delete
            </button>
          </div>
          <Parts kind={kind} status={status} />
          {kind === 'sweep' && (
            <TrialsView
              trials={status.parts.map(p => ({
                name: p.name,
                state: (p.state ?? 'Pending') as JobState,
                parameters: p.parameters ?? {},
                metrics: p.metrics ?? {}
              })) as ITrial[]}
              objective={extras?.objective ?? null}
              best={status.best_trial}
              plot={status.plot}
            />
          )}
          <h4>Logs</h4>
          {logParts(kind, status).length === 0 ? (
            <p className="jp-mlops-muted">No logs yet: they appear when a {status.part_noun} has a pod.</p>
          ) : (
            <LogViewer kind={kind} name={name} parts={logParts(kind, status)} />
          )}
          <h4>Conditions</h4>
          {extras && extras.conditions.length > 0 ? (
            <ul className="jp-mlops-conditions" data-testid="mlops-conditions">
              {extras.conditions.map((c, i) => (
                <li key={i}>
                  <strong>{c.type}</strong> {c.status === 'True' ? '' : `(${c.status}) `}
                  {c.reason} {c.message && `— ${c.message}`}{' '}
                  <span className="jp-mlops-muted">{formatAge(c.time, now)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="jp-mlops-muted">The controller has not reported any condition yet.</p>
          )}
          <h4>Events</h4>
          {events.length === 0 ? (
            <p className="jp-mlops-muted">No events for this job or its pods.</p>
          ) : (
            <ul className="jp-mlops-events">
              {events.map((e, i) => (
                <li key={i} className={e.type === 'Warning' ? 'jp-mlops-warning' : ''}>
                  {e.reason} {e.object}: {e.message}
                  {e.count > 1 && ` (×${e.count})`}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
