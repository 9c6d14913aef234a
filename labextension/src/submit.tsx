// Submit: a PyTorchJob from the current notebook or a .py file, a Katib
// sweep, or a Hera workflow from a .py file. GPU types and counts are
// offered from what the cluster has; a job that does not fit now can be
// queued after the user says so.
import * as React from 'react';

import { ErrorMessage } from './common';
import { useGpuSnapshot } from './gpus';
import { Algorithm, ALGORITHM_VALUES } from './api';
import {
  algorithmSettings,
  commandForFile,
  errorText,
  gpuBars,
  JobKind,
  parseSearchSpace,
  shortGpuName,
  splitArgs,
  sweepArguments
} from './model';
import { requestAPI } from './request';

type Form = 'pytorchjob' | 'sweep' | 'workflow';

interface ISubmitted {
  kind: JobKind;
  name: string;
  warnings: string[];
}

function GpuFields(props: {
  gpuType: string;
  gpus: number;
  onChange: (gpuType: string, gpus: number) => void;
  label: string;
}): JSX.Element {
  const { snapshot, error } = useGpuSnapshot(30000);
  const bars = gpuBars(snapshot);
  const chosen = bars.find(b => b.type === props.gpuType);
  const most = Math.max(1, Math.min(8, chosen ? chosen.largestOnOneNode ?? chosen.total : 8));
  return (
    <>
      <label>
        GPU type
        <select value={props.gpuType} onChange={e => props.onChange(e.target.value, props.gpus)} aria-label="GPU type">
          <option value="">any type</option>
          {bars.map(b => (
            <option key={b.type} value={b.type}>
              {shortGpuName(b.type)} ({b.free}/{b.total} free)
            </option>
          ))}
        </select>
      </label>
      {error && <p className="jp-mlops-muted">GPU types unavailable: {error}</p>}
      <label>
        {props.label}
        <select value={props.gpus} onChange={e => props.onChange(props.gpuType, Number(e.target.value))} aria-label={props.label}>
          {Array.from({ length: Math.max(most, props.gpus) + 1 }, (_, n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

export function SubmitPanel(props: {
  currentPath: () => string | null;
  onOpen: (kind: JobKind, name: string) => void;
}): JSX.Element {
  const [form, setForm] = React.useState<Form>('pytorchjob');
  const [path, setPath] = React.useState<string>(() => props.currentPath() ?? '');
  const [args, setArgs] = React.useState('');
  const [name, setName] = React.useState('');
  const [replicas, setReplicas] = React.useState(1);
  const [gpuType, setGpuType] = React.useState('');
  const [gpus, setGpus] = React.useState(0);
  const [metric, setMetric] = React.useState('accuracy');
  const [goalType, setGoalType] = React.useState('maximize');
  const [algorithm, setAlgorithm] = React.useState<Algorithm>(ALGORITHM_VALUES[0]);
  const [settings, setSettings] = React.useState('');
  const [space, setSpace] = React.useState('lr double 0.0001 0.1');
  const [maxTrials, setMaxTrials] = React.useState(8);
  const [parallel, setParallel] = React.useState(2);
  const [error, setError] = React.useState<string | null>(null);
  const [notFitting, setNotFitting] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const body = (): { collection: string; body: Record<string, unknown> } => {
    if (form === 'workflow') {
      return { collection: 'workflows', body: { path } };
    }
    const { command, folder } = commandForFile(path, form === 'sweep' ? '' : args);
    const common = {
      ...(name ? { name } : {}),
      gpus,
      ...(gpuType ? { gpu_type: gpuType } : {}),
      snapshot: { path: folder }
    };
    if (form === 'pytorchjob') {
      return { collection: 'pytorchjobs', body: { ...common, command, replicas } };
    }
    const parameters = parseSearchSpace(space);
    return {
      collection: 'sweeps',
      body: {
        ...common,
        command: [...command, ...splitArgs(sweepArguments(args, parameters))],
        parameters,
        objective_metric: metric,
        objective: goalType,
        algorithm,
        ...algorithmSettings(settings),
        max_trials: maxTrials,
        parallel_trials: parallel
      }
    };
  };

  const submit = async (ifNotFits: 'refuse' | 'queue') => {
    setBusy(true);
    setError(null);
    try {
      const request = body();
      // Workflows are built by running the user's Hera file on the server first.
      const endpoint = form === 'workflow' ? 'sidebar/workflows/from-file' : `jobs/${request.collection}`;
      const created = await requestAPI<ISubmitted>(endpoint, {
        method: 'POST',
        body: JSON.stringify({ ...request.body, if_not_fits: ifNotFits })
      });
      setNotFitting(null);
      props.onOpen(created.kind, created.name);
    } catch (e) {
      const status = (e as { response?: Response }).response?.status;
      if (status === 409 && String((e as Error).message).includes('fit')) {
        setNotFitting(errorText(e));
      } else {
        setError(errorText(e));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="jp-mlops-section" data-testid="mlops-submit">
      <h3>Submit</h3>
      <div className="jp-mlops-tabs" role="tablist">
        {(['pytorchjob', 'sweep', 'workflow'] as Form[]).map(f => (
          <button key={f} role="tab" aria-selected={form === f} className="jp-mlops-tab" onClick={() => setForm(f)}>
            {f === 'pytorchjob' ? 'PyTorchJob' : f === 'sweep' ? 'Katib sweep' : 'Hera workflow'}
          </button>
        ))}
      </div>
      <form
        className="jp-mlops-form"
        onSubmit={e => {
          e.preventDefault();
          void submit('refuse');
        }}
      >
        <label>
          {form === 'workflow' ? 'Hera .py file' : 'Notebook or .py file'}
          <input value={path} onChange={e => setPath(e.target.value)} aria-label="File" placeholder="train.py" />
        </label>
        <button
          type="button"
          className="jp-mlops-link"
          onClick={() => setPath(props.currentPath() ?? path)}
        >
          Use the file open in the editor
        </button>
        {form === 'workflow' ? (
          <p className="jp-mlops-muted">
            The file runs on this server (not as __main__); the one Hera Workflow it defines at module level is
            submitted.
          </p>
        ) : (
          <>
            <label>
              Arguments
              <input value={args} onChange={e => setArgs(e.target.value)} aria-label="Arguments" />
            </label>
            <label>
              Name (optional)
              <input value={name} onChange={e => setName(e.target.value)} aria-label="Name" />
            </label>
            <GpuFields
              gpuType={gpuType}
              gpus={gpus}
              label="GPUs per replica"
              onChange={(t, n) => {
                setGpuType(t);
                setGpus(n);
              }}
            />
          </>
        )}
        {form === 'pytorchjob' && (
          <label>
            Replicas (1 master + workers)
            <input type="number" min={1} max={64} value={replicas} onChange={e => setReplicas(Number(e.target.value))} aria-label="Replicas" />
          </label>
        )}
        {form === 'sweep' && (
          <>
            <label>
              Objective metric (printed as name=value)
              <input value={metric} onChange={e => setMetric(e.target.value)} aria-label="Objective metric" />
            </label>
            <label>
              Goal
              <select value={goalType} onChange={e => setGoalType(e.target.value)} aria-label="Goal">
                <option value="maximize">maximize</option>
                <option value="minimize">minimize</option>
              </select>
            </label>
            <label>
              Algorithm
              <select value={algorithm} onChange={e => setAlgorithm(e.target.value as Algorithm)} aria-label="Algorithm">
                {ALGORITHM_VALUES.map(a => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </label>
            <label>
              Algorithm settings (name=value, one a line, e.g. random_state=42; checked by the server)
              <textarea value={settings} rows={2} onChange={e => setSettings(e.target.value)} aria-label="Algorithm settings" />
            </label>
            <label>
              Search space (one a line: name type min max [uniform|loguniform|normal|lognormal], or name categorical a,b)
              <textarea value={space} rows={3} onChange={e => setSpace(e.target.value)} aria-label="Search space" />
            </label>
            <label>
              Trials
              <input type="number" min={1} value={maxTrials} onChange={e => setMaxTrials(Number(e.target.value))} aria-label="Trials" />
            </label>
            <label>
              In parallel
              <input type="number" min={1} value={parallel} onChange={e => setParallel(Number(e.target.value))} aria-label="In parallel" />
            </label>
          </>
        )}
        <ErrorMessage message={error} />
        {notFitting && (
          <div className="jp-mlops-warning" role="alert">
            {notFitting}{' '}
            <button type="button" className="jp-mlops-button" onClick={() => void submit('queue')}>
              Submit anyway (wait in the queue)
            </button>
          </div>
        )}
        <button type="submit" className="jp-mlops-button jp-mlops-primary" disabled={busy || !path}>
          Submit
        </button>
      </form>
    </section>
  );
}
