// Unit tests of the sidebar's pure logic (src/model.ts), run by `npm test`
// with Node's own test runner over the compiled files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  algorithmSettings,
  applyWatchEvent,
  applyWatchEvents,
  availabilityUnknown,
  commandForFile,
  filterJobs,
  formatAge,
  formatCreated,
  formatGpus,
  gpuBars,
  gpusNotice,
  IJobSummary,
  NO_GPUS,
  ITrialPlot,
  parseSearchSpace,
  parseSse,
  placeInLine,
  plotGeometry,
  plotPaths,
  profileFits,
  splitArgs,
  sweepArguments,
  visibleRows
} from '../src/model';

function job(name: string, created: string, extra: Partial<IJobSummary> = {}): IJobSummary {
  return {
    kind: 'pytorchjob',
    name,
    namespace: 'ns',
    uid: `uid-${name}`,
    state: 'Pending',
    message: '',
    created,
    gpus: 0,
    gpu_type: null,
    ...extra
  };
}

describe('applyWatchEvent', () => {
  const a = job('a', '2026-01-01T00:00:00Z', { gpus: 2, gpu_type: 'X' });
  const b = job('b', '2026-01-02T00:00:00Z', { gpus: 0, gpu_type: null });

  it('adds a new job newest first', () => {
    const next = applyWatchEvent([a], { type: 'ADDED', job: b });
    assert.deepEqual(next.map(j => j.name), ['b', 'a']);
  });

  it('takes the state and the GPU figures the event carries', () => {
    const event = { type: 'MODIFIED' as const, job: job('a', a.created!, { state: 'Running', gpus: 4, gpu_type: 'X' }) };
    const next = applyWatchEvent([b, a], event);
    assert.equal(next[1].state, 'Running');
    assert.equal(next[1].gpus, 4);
    assert.equal(next[1].gpu_type, 'X');
  });

  it('returns the same array when nothing changed, and removes deleted jobs', () => {
    const jobs = [b, a];
    assert.equal(applyWatchEvent(jobs, { type: 'MODIFIED', job: { ...a } }), jobs);
    assert.deepEqual(applyWatchEvent(jobs, { type: 'DELETED', job: a }).map(j => j.name), ['b']);
    assert.equal(applyWatchEvent(jobs, { type: 'DELETED', job: job('zz', '') }), jobs);
  });

  it('applies a burst in one pass: the last event of a job wins', () => {
    const next = applyWatchEvents([a], [
      { type: 'ADDED', job: b },
      { type: 'MODIFIED', job: { ...a, state: 'Running' } },
      { type: 'MODIFIED', job: { ...a, state: 'Failed' } },
      { type: 'DELETED', job: b }
    ]);
    assert.deepEqual(next.map(j => [j.name, j.state, j.gpus]), [['a', 'Failed', 2]]);
  });

  it('tells kinds apart: a sweep and a job of the same name are two rows', () => {
    const sweep = { ...a, kind: 'sweep' as const };
    assert.equal(applyWatchEvent([a], { type: 'ADDED', job: sweep }).length, 2);
  });
});

describe('filterJobs', () => {
  const jobs = [job('a', '1', { state: 'Running' }), job('b', '2', { kind: 'sweep', state: 'Failed' })];
  it('filters by kind and by state; empty means any', () => {
    assert.deepEqual(filterJobs(jobs, { kind: '', state: '' }).length, 2);
    assert.deepEqual(filterJobs(jobs, { kind: 'sweep', state: '' }).map(j => j.name), ['b']);
    assert.deepEqual(filterJobs(jobs, { kind: '', state: 'Running' }).map(j => j.name), ['a']);
    assert.deepEqual(filterJobs(jobs, { kind: 'sweep', state: 'Running' }), []);
  });
});

describe('placeInLine', () => {
  it('says a queued job\'s place with its ordinal, and when Kueue has not ranked it yet', () => {
    assert.equal(placeInLine(1), '1st in line');
    assert.equal(placeInLine(2), '2nd in line');
    assert.equal(placeInLine(3), '3rd in line');
    assert.equal(placeInLine(11), '11th in line');
    assert.equal(placeInLine(22), '22nd in line');
    assert.equal(placeInLine(null), 'waiting for its place in line');
  });
});

describe('formatting', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  it('ages', () => {
    assert.equal(formatAge('2026-11-28T11:59:58Z', now), 'just now');
    assert.equal(formatAge('2026-11-28T11:59:15Z', now), '45s');
    assert.equal(formatAge('2026-11-28T11:48:00Z', now), '12m');
    assert.equal(formatAge('2026-11-28T09:00:00Z', now), '3h');
    assert.equal(formatAge('2026-11-25T12:00:00Z', now), '3d');
    assert.equal(formatAge(null, now), '');
    assert.equal(formatAge('not a time', now), '');
    assert.equal(formatCreated('2026-11-28T11:59:59Z', now), 'created just now');
    assert.equal(formatCreated('2026-11-28T11:48:00Z', now), 'created 12m ago');
  });
  it('GPUs', () => {
    assert.equal(formatGpus(undefined), '…');
    assert.equal(formatGpus(0, null), 'no GPU');
    assert.equal(formatGpus(1, null), '1 GPU');
    assert.equal(formatGpus(4, 'NVIDIA-A100-SXM4-80GB'), '4 × A100-SXM4-80GB');
  });
});

describe('GPU availability', () => {
  const snapshot = {
    gpu_types: {
      'NVIDIA-RTX-A6000': { total: 8, free: 5, free_per_node: [4, 1] },
      'NVIDIA-A100-SXM4-80GB': { total: 16, free: 0 }
    },
    profiles: [
      { display_name: 'RTX x 2', gpu_type: 'NVIDIA-RTX-A6000', gpus: 2 },
      { display_name: 'A100 x 1', gpu_type: 'NVIDIA-A100-SXM4-80GB', gpus: 1 },
      { display_name: 'given', gpu_type: 'NVIDIA-RTX-A6000', gpus: 1, fits: 7, reason: 'said by the hub' }
    ]
  };
  it('bars per type, sorted, with the largest free on one node', () => {
    const bars = gpuBars(snapshot);
    assert.deepEqual(bars.map(b => b.type), ['NVIDIA-A100-SXM4-80GB', 'NVIDIA-RTX-A6000']);
    assert.equal(bars[1].fraction, 5 / 8);
    assert.equal(bars[1].largestOnOneNode, 4);
    assert.equal(bars[0].largestOnOneNode, undefined);
    assert.deepEqual(gpuBars(null), []);
  });
  it('servers that fit: a shape needs its GPUs on one node', () => {
    const fits = profileFits(snapshot);
    // 4 free on one node and 1 on the other: two 2-GPU servers, not floor(5/2)=2 by luck.
    assert.equal(fits[0].fits, 2);
    assert.equal(fits[1].fits, 0);
    assert.match(fits[1].reason, /no node/);
    assert.equal(fits[2].fits, 7);
    assert.equal(fits[2].reason, 'said by the hub');
    const packed = profileFits({ gpu_types: { T: { free: 6, free_per_node: [3, 3] } }, profiles: [{ name: 'p', gpu_type: 'T', gpus: 4 }] });
    assert.equal(packed[0].fits, 0, '6 free GPUs split 3+3 cannot hold a 4-GPU server');
  });
});

describe('the hub availability service format', () => {
  const snapshot = {
    version: 7,
    in_sync: true,
    gpu_types: { 'NVIDIA-A100-SXM4-80GB': { total: 16, free: 9, largest_free_on_node: 8 } },
    profiles: [{ display_name: 'A100 x 4', gpu_type: 'NVIDIA-A100-SXM4-80GB', gpus: 4, fits: 2, disabled_reason: null }]
  };
  it('reads largest_free_on_node and the hub\'s own fits', () => {
    assert.equal(gpuBars(snapshot)[0].largestOnOneNode, 8);
    assert.equal(profileFits(snapshot)[0].fits, 2);
    assert.equal(availabilityUnknown(snapshot), false);
  });
  it('an out-of-sync hub means unknown, not zero', () => {
    assert.equal(availabilityUnknown({ in_sync: false, gpu_types: null, profiles: [] }), true);
    assert.deepEqual(gpuBars({ in_sync: false, gpu_types: null }), []);
    assert.equal(availabilityUnknown(null), false);
  });
  it('tells a server without an availability service from a cluster without GPUs', () => {
    const unconfigured = { configured: false, message: 'GPU availability is not configured on this server (X).' };
    assert.equal(gpusNotice(unconfigured), unconfigured.message);
    assert.equal(gpusNotice({ configured: true, in_sync: true, gpu_types: {} }), NO_GPUS);
    assert.equal(gpusNotice({ configured: true, in_sync: false, gpu_types: null }), null);
    assert.equal(gpusNotice({ configured: true, gpu_types: { T: { free: 1, total: 2 } } }), null);
    assert.equal(gpusNotice(null), null);
  });
  it('says why a profile cannot start', () => {
    const fits = profileFits({
      gpu_types: {},
      profiles: [{ display_name: 'p', gpu_type: 'T', gpus: 1, fits: 0, disabled_reason: 'over your cap' }]
    });
    assert.equal(fits[0].reason, 'over your cap');
  });
});

describe('parseSse', () => {
  it('splits complete messages and keeps the tail', () => {
    const { messages, rest } = parseSse('event: job\ndata: {"a":1}\n\n: keep-alive\n\nevent: job\ndata: {"b"');
    assert.deepEqual(messages, [{ event: 'job', data: '{"a":1}' }]);
    assert.equal(rest, 'event: job\ndata: {"b"');
    const second = parseSse(rest + ':2}\n\n');
    assert.deepEqual(second.messages, [{ event: 'job', data: '{"b":2}' }]);
  });
  it('joins multi-line data and handles CRLF', () => {
    assert.deepEqual(parseSse('data: one\r\ndata: two\r\n\r\n').messages, [{ event: 'message', data: 'one\ntwo' }]);
  });
});

describe('trials plot', () => {
  // As the jobs API serves it (jobs/trial_plot.py decides positions, scores and the best).
  const plot: ITrialPlot = {
    metric: 'acc',
    objective: 'maximize',
    best: 't1',
    axes: [
      { name: 'lr', scale: 'log', labels: ['0.01', '0.1'] },
      { name: 'opt', scale: 'categorical', labels: ['adam', 'sgd'] },
      { name: 'acc', scale: 'linear', labels: ['0.8', '0.9'] }
    ],
    lines: [
      { trial: 't2', points: [0.5, 0], complete: false, score: null, values: ['0.03', 'adam', null] },
      { trial: 't0', points: [0, 1, 0], complete: true, score: 0, values: ['0.01', 'sgd', '0.8'] },
      { trial: 't1', points: [1, 0, 1], complete: true, score: 1, values: ['0.1', 'adam', '0.9'] }
    ]
  };
  const size = { width: 200, height: 120, margin: 10 };

  it('spreads the axes evenly and measures fractions upwards', () => {
    const geometry = plotGeometry(plot, size);
    assert.deepEqual(geometry.axes.map(a => [a.name, a.x, a.bottom, a.top, a.log]), [
      ['lr', 10, '0.01', '0.1', true],
      ['opt', 100, 'adam', 'sgd', false],
      ['acc', 190, '0.8', '0.9', false]
    ]);
    const [t2, t0, t1] = geometry.lines;
    assert.deepEqual(t1.points, [[10, 10], [100, 110], [190, 10]]);
    assert.deepEqual(t0.points[1], [100, 10], 'sgd is the top category');
    assert.deepEqual(t2.points, [[10, 60], [100, 110]], 'an unfinished trial stops early');
    assert.deepEqual(geometry.lines.map(l => l.best), [false, false, true]);
  });

  it('a single axis sits mid-box', () => {
    const one: ITrialPlot = { ...plot, axes: [plot.axes[2]], lines: [{ ...plot.lines[1], points: [0.5] }] };
    assert.deepEqual(plotGeometry(one, size).lines[0].points, [[100, 60]]);
  });

  it('shares one path per colour band and dash style among all lines but the best', () => {
    const many: ITrialPlot = {
      ...plot,
      lines: [
        ...plot.lines,
        { trial: 't3', points: [0, 0, 0.02], complete: true, score: 0.02, values: ['0.01', 'adam', '0.802'] }
      ]
    };
    const paths = plotPaths(plotGeometry(many, size).lines, 4);
    // t0 and t3 score in the lowest band; t2 is unfinished (mid band, dashed); t1 is the best.
    assert.deepEqual(
      paths.map(p => [p.colour, p.complete, p.lines]),
      [
        ['hsl(198, 70%, 45%)', true, 2],
        ['hsl(108, 70%, 45%)', false, 1]
      ]
    );
    assert.equal(paths[0].d, 'M10.0 110.0L100.0 10.0L190.0 110.0M10.0 110.0L100.0 110.0L190.0 108.0');
    assert.equal(paths[1].d, 'M10.0 60.0L100.0 110.0');
    assert.equal(paths.reduce((n, p) => n + p.lines, 0), many.lines.length - 1);
  });
});

describe('visibleRows', () => {
  it('takes the rows in view and the overscan around them', () => {
    assert.deepEqual(visibleRows(0, 100, 20, 1000, 3), { first: 0, last: 8 });
    assert.deepEqual(visibleRows(410, 100, 20, 1000, 3), { first: 17, last: 29 });
  });

  it('stays within the table at its end and when it is short', () => {
    assert.deepEqual(visibleRows(19900, 100, 20, 1000, 3), { first: 992, last: 1000 });
    assert.deepEqual(visibleRows(0, 300, 20, 4, 10), { first: 0, last: 4 });
    assert.deepEqual(visibleRows(5000, 300, 20, 4, 10), { first: 4, last: 4 });
  });
});

describe('submit helpers', () => {
  it('runs a notebook with IPython and ships its folder', () => {
    assert.deepEqual(commandForFile('exp/a/train.ipynb', ''), {
      command: ['ipython', '--no-banner', 'train.ipynb'],
      folder: 'exp/a'
    });
    assert.deepEqual(commandForFile('train.py', '--lr 0.1 --name "my run"'), {
      command: ['python', 'train.py', '--lr', '0.1', '--name', 'my run'],
      folder: ''
    });
    assert.throws(() => commandForFile('notes.txt', ''), /neither a notebook/);
  });
  it('splits arguments like a shell', () => {
    assert.deepEqual(splitArgs(` a 'b c'  "d e" f `), ['a', 'b c', 'd e', 'f']);
  });
  it('parses the search space and says which line is wrong', () => {
    assert.deepEqual(parseSearchSpace('lr double 0.001 0.1\n# comment\nopt categorical adam, sgd\n'), [
      { name: 'lr', type: 'double', min: 0.001, max: 0.1 },
      { name: 'opt', type: 'categorical', values: ['adam', 'sgd'] }
    ]);
    assert.deepEqual(parseSearchSpace('lr double 0.0001 0.1 loguniform\nlayers int 1 8 uniform'), [
      { name: 'lr', type: 'double', min: 0.0001, max: 0.1, distribution: 'loguniform' },
      { name: 'layers', type: 'int', min: 1, max: 8, distribution: 'uniform' }
    ]);
    assert.throws(() => parseSearchSpace('lr double 0.001 0.1 gauss'), /distribution must be uniform, loguniform/);
    assert.throws(() => parseSearchSpace('lr double 0.1 0.01'), /line 1.*larger maximum/);
    assert.throws(() => parseSearchSpace('x\nlr float 1 2'), /line 1/);
    assert.throws(() => parseSearchSpace('lr float 1 2'), /type must be/);
    assert.throws(() => parseSearchSpace('  \n'), /empty/);
  });
  it('reads algorithm settings, one name=value a line', () => {
    assert.deepEqual(algorithmSettings('random_state=42\n# seed\n n_startup_trials = 5 \n'), {
      algorithm_settings: { random_state: '42', n_startup_trials: '5' }
    });
    assert.deepEqual(algorithmSettings('  \n'), {});
    assert.throws(() => algorithmSettings('sigma'), /line 1.*name=value/);
    assert.throws(() => algorithmSettings('a=1\n=2'), /line 2/);
  });
  it('places each parameter in the arguments once', () => {
    const params = parseSearchSpace('lr double 0 1\nbatch int 1 8');
    assert.equal(sweepArguments('--epochs 3 --lr={lr}', params), '--epochs 3 --lr={lr} --batch={batch}');
  });
});
