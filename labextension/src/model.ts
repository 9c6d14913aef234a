// Pure data and formatting logic of the sidebar: no DOM, no requests, so the
// unit tests (test/*.test.ts, run by `npm test`) cover it directly.

import {
  DISTRIBUTION_VALUES,
  IBestTrial,
  IJobDetail,
  IJobSummary,
  IParameter,
  IWatchEvent,
  Kind as JobKind,
  KIND_VALUES,
  State as JobState,
  STATE_VALUES
} from './api';

// The REST documents' types are generated from the contract (api.ts); the sidebar's names for them:
export type { IBestTrial, IJobSummary, IWatchEvent, JobKind, JobState };
export type ISweepParameter = IParameter;

export const JOB_KINDS: readonly JobKind[] = KIND_VALUES;
export const JOB_STATES: readonly JobState[] = STATE_VALUES;
export const FINISHED_STATES: JobState[] = ['Succeeded', 'Failed', 'Cancelled'];

/** The REST path segment of each kind: /jobs/{collection}/{name}. */
export const COLLECTION: Record<JobKind, string> = {
  pytorchjob: 'pytorchjobs',
  sweep: 'sweeps',
  workflow: 'workflows'
};

export const KIND_LABEL: Record<JobKind, string> = {
  pytorchjob: 'PyTorchJob',
  sweep: 'Katib sweep',
  workflow: 'Workflow'
};

export function jobKey(job: { kind: string; name: string }): string {
  return `${job.kind}/${job.name}`;
}

function newestFirst(a: IJobSummary, b: IJobSummary): number {
  const x = a.created ?? '';
  const y = b.created ?? '';
  return x < y ? 1 : x > y ? -1 : a.name.localeCompare(b.name);
}

/**
 * The list after a batch of watch events: ADDED/MODIFIED replace the job,
 * DELETED removes it. Returns the same array when nothing changed, so React
 * skips the render. Linear in the list plus the batch: the stream's first
 * burst carries every job.
 */
export function applyWatchEvents(jobs: IJobSummary[], events: IWatchEvent[]): IJobSummary[] {
  const byKey = new Map(jobs.map(j => [jobKey(j), j]));
  let changed = false;
  for (const event of events) {
    const key = jobKey(event.job);
    const previous = byKey.get(key);
    if (event.type === 'DELETED') {
      changed = byKey.delete(key) || changed;
      continue;
    }
    if (!previous || !sameSummary(previous, event.job)) {
      byKey.set(key, event.job);
      changed = true;
    }
  }
  return changed ? Array.from(byKey.values()).sort(newestFirst) : jobs;
}

/** `applyWatchEvents` for one event. */
export function applyWatchEvent(jobs: IJobSummary[], event: IWatchEvent): IJobSummary[] {
  return applyWatchEvents(jobs, [event]);
}

function sameSummary(a: IJobSummary, b: IJobSummary): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Jobs of the chosen kind and state ('' = any), in the given order. */
export function filterJobs(
  jobs: IJobSummary[],
  filter: { kind: JobKind | ''; state: JobState | '' }
): IJobSummary[] {
  return jobs.filter(
    j => (!filter.kind || j.kind === filter.kind) && (!filter.state || j.state === filter.state)
  );
}

/** "just now", "45s", "12m", "3h", "2d" since `iso` (an RFC 3339 time); "" when unknown. */
export function formatAge(iso: string | null | undefined, nowMs: number): string {
  if (!iso) {
    return '';
  }
  const then = Date.parse(iso);
  if (Number.isNaN(then)) {
    return '';
  }
  const seconds = Math.max(0, Math.floor((nowMs - then) / 1000));
  if (seconds < 5) {
    return 'just now';
  }
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return `${hours}h`;
  }
  return `${Math.floor(hours / 24)}d`;
}

/** "created just now" / "created 3m ago". */
export function formatCreated(iso: string | null | undefined, nowMs: number): string {
  const age = formatAge(iso, nowMs);
  return !age ? '' : age === 'just now' ? 'created just now' : `created ${age} ago`;
}

/** "2 × A100-SXM4-80GB", "no GPU", or "…" while the figure is not known. */
/** "3rd in line" for a queued job's place (1 = first); before Kueue ranks it, says so. */
export function placeInLine(position: number | null | undefined): string {
  if (!position) {
    return 'waiting for its place in line';
  }
  const tens = position % 100;
  const suffix = tens >= 10 && tens <= 20 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[position % 10] ?? 'th';
  return `${position}${suffix} in line`;
}

export function formatGpus(gpus: number | undefined, gpuType?: string | null): string {
  if (gpus === undefined) {
    return '…';
  }
  if (gpus === 0) {
    return 'no GPU';
  }
  return gpuType ? `${gpus} × ${shortGpuName(gpuType)}` : `${gpus} GPU${gpus === 1 ? '' : 's'}`;
}

/** The product label without the vendor prefix: NVIDIA-A100-SXM4-80GB → A100-SXM4-80GB. */
export function shortGpuName(product: string): string {
  return product.replace(/^NVIDIA-/, '');
}

// ------------------------------------------------------------------ GPUs
export interface IGpuBar {
  type: string;
  free: number;
  total: number;
  /** free / total, 0 when the type has no GPUs. */
  fraction: number;
  /** Largest number of GPUs free on one node, when the snapshot says. */
  largestOnOneNode?: number;
}

export interface IProfileFit {
  name: string;
  gpuType: string | null;
  gpus: number;
  /** How many servers of this shape can start now; null when unknown. */
  fits: number | null;
  reason: string;
}

/**
 * Bars per GPU type from the availability snapshot (GET /gpus): the hub's
 * `gpu_types: {type: {free, total, largest_free_on_node?}}` (older
 * snapshots give `free_per_node` instead). Types are sorted by name, so the
 * panel does not jump around between updates.
 */
export function gpuBars(snapshot: any): IGpuBar[] {
  const types = (snapshot && snapshot.gpu_types) || {};
  return Object.keys(types)
    .sort()
    .map(type => {
      const entry = types[type] || {};
      const free = Number(entry.free ?? 0);
      const total = Number(entry.total ?? 0);
      const perNode: number[] | undefined = Array.isArray(entry.free_per_node)
        ? entry.free_per_node.map(Number)
        : undefined;
      const largest =
        entry.largest_free_on_node !== undefined
          ? Number(entry.largest_free_on_node)
          : perNode && perNode.length
            ? Math.max(...perNode)
            : undefined;
      return {
        type,
        free,
        total,
        fraction: total > 0 ? Math.min(1, Math.max(0, free / total)) : 0,
        largestOnOneNode: largest
      };
    });
}

/**
 * True when the hub says its counts are not in sync with the cluster (it
 * then sends no numbers rather than wrong ones).
 */
export function availabilityUnknown(snapshot: any): boolean {
  return !!snapshot && (snapshot.in_sync === false || snapshot.gpu_types === null);
}

export const NO_GPUS = 'The cluster reports no GPUs. Ask your operator whether GPU nodes are up.';

/**
 * What the GPU panel says instead of bars, or null when it draws bars (or is still
 * asking). A server without an availability service says so: it knows nothing of the
 * cluster's GPUs, which is not the same as a cluster without GPUs.
 */
export function gpusNotice(snapshot: any): string | null {
  if (!snapshot || availabilityUnknown(snapshot)) {
    return null;
  }
  if (snapshot.configured === false) {
    return snapshot.message || 'GPU availability is not configured on this server.';
  }
  return gpuBars(snapshot).length === 0 ? NO_GPUS : null;
}

/**
 * Per profile, how many servers fit now. Uses the snapshot's own answer
 * (`fits`) when the hub gives one; otherwise packs the shape onto the free
 * GPUs per node (a k-GPU server needs k free GPUs on one node).
 */
export function profileFits(snapshot: any): IProfileFit[] {
  const profiles: any[] = (snapshot && snapshot.profiles) || [];
  const types = (snapshot && snapshot.gpu_types) || {};
  return profiles.map(p => {
    const gpuType: string | null = p.gpu_type ?? null;
    const gpus = Number(p.gpus ?? p.gpu_count ?? 0);
    const name = String(p.display_name ?? p.name ?? p.slug ?? 'profile');
    let fits: number | null = typeof p.fits === 'number' ? p.fits : null;
    if (fits === null && gpus > 0 && gpuType && types[gpuType]) {
      const perNode: number[] | undefined = types[gpuType].free_per_node;
      fits = perNode
        ? perNode.reduce((sum: number, free: number) => sum + Math.floor(Number(free) / gpus), 0)
        : Math.floor(Number(types[gpuType].free ?? 0) / gpus);
    }
    const reason = String(
      p.disabled_reason ?? p.reason ?? (fits === 0 ? 'no node has enough free GPUs now' : '')
    );
    return { name, gpuType, gpus, fits, reason };
  });
}

// ------------------------------------------------------------- SSE parsing
export interface ISseMessage {
  event: string;
  data: string;
}

/**
 * Splits a server-sent-events text buffer into complete messages; `rest` is
 * the unfinished tail to prepend to the next chunk. Comments (": keep-alive")
 * are dropped; multi-line data is joined with "\n" as the spec says.
 */
export function parseSse(buffer: string): { messages: ISseMessage[]; rest: string } {
  const normalised = buffer.replace(/\r\n?/g, '\n');
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  const messages: ISseMessage[] = [];
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'event') {
        event = value;
      } else if (field === 'data') {
        data.push(value);
      }
    }
    if (data.length) {
      messages.push({ event, data: data.join('\n') });
    }
  }
  return { messages, rest };
}

// ---------------------------------------------------------- trials plot
export interface ITrial {
  name: string;
  state: JobState;
  parameters: Record<string, string>;
  metrics: Record<string, string | null>;
}

/**
 * A sweep's parallel-coordinates plot as the jobs API computes it (`plot` in
 * a sweep's detail, from jobs/trial_plot.py): which trial is best and where
 * each trial sits are decided there, once; the sidebar only draws.
 */
/** A sweep's parallel-coordinates plot as the jobs API computes it (generated type, api.ts). */
export type ITrialPlot = NonNullable<IJobDetail['plot']>;

export interface IPlotGeometry {
  axes: Array<{ name: string; x: number; bottom: string; top: string; log: boolean }>;
  lines: Array<{
    trial: string;
    points: Array<[number, number]>;
    complete: boolean;
    score: number | null;
    best: boolean;
  }>;
}

/**
 * Where the plot goes in a box of `size`: the axes spread evenly across, each
 * line's fractions measured upwards from the bottom (SVG's y grows downwards).
 */
export function plotGeometry(
  plot: ITrialPlot,
  size: { width: number; height: number; margin: number }
): IPlotGeometry {
  const span = size.width - 2 * size.margin;
  const n = plot.axes.length;
  const xs = plot.axes.map((_, i) => size.margin + (n > 1 ? (span * i) / (n - 1) : span / 2));
  const top = size.margin;
  const bottom = size.height - size.margin;
  return {
    axes: plot.axes.map((axis, i) => ({
      name: axis.name,
      x: xs[i],
      bottom: axis.labels[0],
      top: axis.labels[1],
      log: axis.scale === 'log'
    })),
    lines: plot.lines.map(line => ({
      trial: line.trial,
      points: line.points.map((f, i): [number, number] => [xs[i], bottom - (bottom - top) * f]),
      complete: line.complete,
      score: line.score,
      best: line.complete && line.trial === plot.best
    }))
  };
}

/**
 * Trials up to this many are drawn one element each, with a title naming the
 * trial under the pointer; beyond that the lines overlap too much for a title
 * to help, and one path per colour band draws them at a fraction of the cost.
 */
export const LINES_EACH_UP_TO = 50;
/** Colour bands of the shared paths: the score's hue in this many steps. */
export const SHADE_BANDS = 12;

/** The stroke of a line of `score` (0 worst, 1 best; null: not scored yet, mid hue). */
export function lineColour(score: number | null): string {
  return `hsl(${Math.round(220 - 180 * (score ?? 0.5))}, 70%, 45%)`;
}

export interface IPlotPath {
  /** The band's colour (`lineColour` of its middle score). */
  colour: string;
  /** Unfinished trials are dashed. */
  complete: boolean;
  /** SVG path data: one `M … L …` run per line. */
  d: string;
  lines: number;
}

/**
 * The lines other than the best one, grouped into one path per colour band
 * and dash style (see LINES_EACH_UP_TO); the best line is drawn on its own.
 */
export function plotPaths(lines: IPlotGeometry['lines'], bands: number = SHADE_BANDS): IPlotPath[] {
  const groups = new Map<string, { band: number; complete: boolean; runs: string[] }>();
  for (const line of lines) {
    if (line.best || line.points.length === 0) {
      continue;
    }
    const band = Math.min(bands - 1, Math.floor((line.score ?? 0.5) * bands));
    const key = `${band}/${line.complete}`;
    const group = groups.get(key) ?? { band, complete: line.complete, runs: [] };
    group.runs.push(
      line.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`).join('')
    );
    groups.set(key, group);
  }
  return Array.from(groups.values())
    .sort((a, b) => a.band - b.band || Number(a.complete) - Number(b.complete))
    .map(g => ({
      colour: lineColour((g.band + 0.5) / bands),
      complete: g.complete,
      d: g.runs.join(''),
      lines: g.runs.length
    }));
}

// ---------------------------------------------------------- trials table
/**
 * The rows of a scrolled table worth rendering: those in view plus `overscan`
 * on either side, as [first, last). Rows all have `rowHeight` pixels.
 */
export function visibleRows(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan: number
): { first: number; last: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first: Math.min(first, last), last };
}

// ---------------------------------------------------------------- submit
/** The command that runs a file in the job, and the folder shipped as its code snapshot. */
export function commandForFile(path: string, args: string): { command: string[]; folder: string } {
  const slash = path.lastIndexOf('/');
  const folder = slash < 0 ? '' : path.slice(0, slash);
  const file = slash < 0 ? path : path.slice(slash + 1);
  if (!file.endsWith('.py') && !file.endsWith('.ipynb')) {
    throw new Error(`${path || 'The file'} is neither a notebook (.ipynb) nor a Python file (.py).`);
  }
  // IPython runs a notebook's code cells in order, like a script.
  const runner = file.endsWith('.ipynb') ? ['ipython', '--no-banner'] : ['python'];
  return { command: [...runner, file, ...splitArgs(args)], folder };
}

/** Shell-like splitting of an arguments line: spaces separate, quotes group. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(line)) !== null) {
    out.push(match[1] ?? match[2] ?? match[3]);
  }
  return out;
}

/**
 * Search-space lines of the sweep form, one parameter a line:
 * `lr double 0.0001 0.1 loguniform` (the distribution is optional),
 * `layers int 2 8`, `optimizer categorical adam,sgd`.
 * Throws an Error naming the line and what is wrong.
 */
export function parseSearchSpace(text: string): ISweepParameter[] {
  const parameters: ISweepParameter[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const where = `Search space line ${i + 1} (“${line}”)`;
    const [name, type, ...rest] = line.split(/\s+/);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`${where}: the name must be letters, digits or _.`);
    }
    if (type === 'double' || type === 'int') {
      const [low, high, distribution] = rest;
      const [min, max] = [Number(low), Number(high)];
      if (rest.length < 2 || rest.length > 3 || !Number.isFinite(min) || !Number.isFinite(max) || min >= max) {
        throw new Error(`${where}: give a minimum and a larger maximum, e.g. “${name} ${type} 1 10”.`);
      }
      if (distribution === undefined) {
        parameters.push({ name, type, min, max });
      } else if ((DISTRIBUTION_VALUES as readonly string[]).includes(distribution)) {
        parameters.push({ name, type, min, max, distribution: distribution as IParameter['distribution'] });
      } else {
        throw new Error(`${where}: the distribution must be ${DISTRIBUTION_VALUES.join(', ')} (or left out).`);
      }
    } else if (type === 'categorical' || type === 'discrete') {
      const values = rest.join(' ').split(',').map(v => v.trim()).filter(Boolean);
      if (!values.length) {
        throw new Error(`${where}: list the values separated by commas, e.g. “${name} ${type} a,b”.`);
      }
      parameters.push({ name, type, values });
    } else {
      throw new Error(`${where}: the type must be double, int, categorical or discrete.`);
    }
  });
  if (!parameters.length) {
    throw new Error('The search space is empty: add one parameter a line, e.g. “lr double 0.001 0.1”.');
  }
  return parameters;
}

/**
 * Algorithm-settings lines of the sweep form (`name=value`, one a line) as the
 * body's `algorithm_settings`; left out when there are none. The server checks
 * each name and value against the algorithm (the contract's list).
 */
export function algorithmSettings(text: string): { algorithm_settings?: Record<string, string> } {
  const settings: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const at = line.indexOf('=');
    const [name, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    if (at < 0 || !name || !value) {
      throw new Error(`Algorithm settings line ${i + 1} (“${line}”): write name=value, e.g. “random_state=42”.`);
    }
    settings[name] = value;
  });
  return Object.keys(settings).length ? { algorithm_settings: settings } : {};
}

/** Appends `--name={name}` for each parameter the arguments do not already place. */
export function sweepArguments(args: string, parameters: ISweepParameter[]): string {
  const extra = parameters
    .filter(p => !args.includes(`{${p.name}}`))
    .map(p => `--${p.name}={${p.name}}`);
  return [args.trim(), ...extra].filter(Boolean).join(' ');
}

// ---------------------------------------------------------------- errors
/** A sentence for any error a request can throw: the server's message when it sent one. */
export function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { message?: string; response?: { status?: number } };
    const status = e.response?.status;
    const message = e.message || String(error);
    return status && !message.includes(String(status)) ? `${message} (HTTP ${status})` : message;
  }
  return String(error);
}
