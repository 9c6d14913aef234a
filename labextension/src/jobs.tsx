// My jobs: every kind in one list (GET /jobs), filterable, kept live by the
// REST watch stream (server-sent events); every summary carries its GPUs.
import * as React from 'react';

import { Empty, ErrorMessage, sleep, StateBadge, useNow } from './common';
import {
  applyWatchEvents,
  errorText,
  filterJobs,
  formatAge,
  formatGpus,
  IJobSummary,
  IWatchEvent,
  JOB_KINDS,
  JOB_STATES,
  JobKind,
  JobState,
  jobKey,
  KIND_LABEL,
  parseSse,
  placeInLine
} from './model';
import { requestAPI, streamAPI } from './request';

interface IJobList {
  namespace: string;
  jobs: IJobSummary[];
}

/** Seconds one watch request lasts before the sidebar opens the next one. */
const WATCH_SECONDS = 300;

/**
 * The user's jobs, live: a list, then the watch stream; on a broken stream,
 * retry with backoff (showing why meanwhile).
 */
export function useLiveJobs(): { jobs: IJobSummary[] | null; error: string | null } {
  const [jobs, setJobs] = React.useState<IJobSummary[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    const abort = new AbortController();
    const run = async () => {
      let delay = 1000;
      while (!abort.signal.aborted) {
        try {
          const listed = await requestAPI<IJobList>('jobs', { signal: abort.signal });
          setJobs(listed.jobs);
          setError(null);
          let buffer = '';
          await streamAPI(
            `jobs/watch?timeout=${WATCH_SECONDS}`,
            text => {
              const { messages, rest } = parseSse(buffer + text);
              buffer = rest;
              const events = messages
                .filter(m => m.event === 'job')
                .map(m => JSON.parse(m.data) as IWatchEvent);
              if (!events.length) {
                return;
              }
              setJobs(current => applyWatchEvents(current ?? [], events));
            },
            abort.signal
          );
          delay = 1000;
        } catch (e) {
          if (abort.signal.aborted) {
            return;
          }
          setError(errorText(e));
          await sleep(delay);
          delay = Math.min(delay * 2, 30000);
        }
      }
    };
    void run();
    return () => abort.abort();
  }, []);
  return { jobs, error };
}

function JobRow(props: { job: IJobSummary; now: number; onOpen: () => void }): JSX.Element {
  const { job } = props;
  return (
    <li
      className="jp-mlops-job"
      data-testid="mlops-job"
      data-job={jobKey(job)}
      title={job.message || job.state}
    >
      <button className="jp-mlops-link" onClick={props.onOpen}>
        <span className="jp-mlops-job-name">{job.name}</span>
      </button>
      <StateBadge state={job.state} />
      {job.queue ? (
        <span className="jp-mlops-queue-place" data-testid="mlops-queue-place">
          {placeInLine(job.queue.position)}
        </span>
      ) : null}
      <span className="jp-mlops-job-meta">
        {KIND_LABEL[job.kind]} · {formatAge(job.created, props.now)} · {formatGpus(job.gpus, job.gpu_type)}
      </span>
    </li>
  );
}

export function JobsPanel(props: {
  onOpen: (kind: JobKind, name: string) => void;
  onSubmit: () => void;
}): JSX.Element {
  const { jobs, error } = useLiveJobs();
  const [kind, setKind] = React.useState<JobKind | ''>('');
  const [state, setState] = React.useState<JobState | ''>('');
  const now = useNow(10000);
  const shown = jobs ? filterJobs(jobs, { kind, state }) : [];
  return (
    <section className="jp-mlops-section" data-testid="mlops-jobs">
      <h3>My jobs</h3>
      <div className="jp-mlops-filters">
        <label>
          Kind{' '}
          <select value={kind} onChange={e => setKind(e.target.value as JobKind | '')} aria-label="Filter by kind">
            <option value="">all</option>
            {JOB_KINDS.map(k => (
              <option key={k} value={k}>
                {KIND_LABEL[k]}
              </option>
            ))}
          </select>
        </label>
        <label>
          State{' '}
          <select value={state} onChange={e => setState(e.target.value as JobState | '')} aria-label="Filter by state">
            <option value="">all</option>
            {JOB_STATES.map(s => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorMessage message={error} />
      {jobs === null && !error && <p className="jp-mlops-muted">Loading your jobs…</p>}
      {jobs !== null && jobs.length === 0 && (
        <Empty>
          You have no jobs yet.{' '}
          <button className="jp-mlops-link" onClick={props.onSubmit}>
            Submit one
          </button>{' '}
          from a notebook or a .py file, or use the Python API (jupyter_mlops.PyTorchJob).
        </Empty>
      )}
      {jobs !== null && jobs.length > 0 && shown.length === 0 && (
        <Empty>No job matches these filters; set them to “all” to see every job.</Empty>
      )}
      <ul className="jp-mlops-jobs" data-count={shown.length}>
        {shown.map(job => (
          <JobRow key={jobKey(job)} job={job} now={now} onOpen={() => props.onOpen(job.kind, job.name)} />
        ))}
      </ul>
    </section>
  );
}
