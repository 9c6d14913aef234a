// A PyTorchJob through the sidebar, against the real control plane: submitted
// from the Submit form, its badge moving as the real Training Operator runs it,
// its logs per replica, cancel, the list's filters, resubmit and delete — every
// action confirmed in a dialog first.
//
// The operator creates the replica pods and writes every status; the pod runner
// runs train.py in each pod (tests/lab/test_sidebar_galata.py writes it: each
// replica prints its lines and runs on; the master prints one more once
// `letTheMasterGoOn` is called).
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { exists, getJson, letTheMasterGoOn, TRAIN_FILE } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';
// Whole-GPU types of the fleet (cluster/fleet.yaml).
const GPU_TYPES = ['NVIDIA-RTX-A6000', 'NVIDIA-A100-SXM4-80GB'];
// The badge of a job right after its submit.
const JUST_SUBMITTED = /^(Pending|Running)$/;

async function openSidebar(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar).toBeVisible();
  return sidebar;
}

/** The name of the job the detail view shows ("kind/name" in data-job). */
async function shownJob(detail: Locator): Promise<string> {
  const job = (await detail.getAttribute('data-job')) ?? '';
  return job.split('/', 2)[1];
}

test('a PyTorchJob: submit, live badge, logs, cancel, filters, resubmit, delete', async ({ page }) => {
  const sidebar = await openSidebar(page);

  // -- submit through the form ------------------------------------------------------
  // The type with the most GPUs free on one node: other tests of the session may hold some.
  const gpus = (await (await page.request.get('mlops/api/v1/gpus')).json()).gpu_types;
  const gpuType = GPU_TYPES.filter(t => gpus[t]).sort(
    (a, b) => gpus[b].largest_free_on_node - gpus[a].largest_free_on_node
  )[0];
  expect(gpus[gpuType].largest_free_on_node).toBeGreaterThan(0);
  await sidebar.getByRole('tab', { name: 'Submit' }).click();
  const form = sidebar.getByTestId('mlops-submit');
  await form.getByLabel('File').fill(TRAIN_FILE);
  await form.getByLabel('Arguments').fill('--epochs 1');
  await form.getByLabel('GPU type').selectOption(gpuType);
  // The option reads "<short name> (<free>/<total> free)".
  const shortName = (await form.getByLabel('GPU type').locator('option:checked').innerText()).split(' (')[0];
  await form.getByLabel('GPUs per replica').selectOption('1');
  await form.getByLabel('Replicas').fill('2');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = sidebar.getByTestId('mlops-detail');
  await expect(detail).toBeVisible();
  const name = await shownJob(detail);
  const job = getJson('pytorchjob', name);
  const replicas = job.spec.pytorchReplicaSpecs;
  expect(replicas.Worker.replicas).toBe(1);
  expect(replicas.Master.template.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
  expect(replicas.Master.template.spec.containers[0].command.join(' ')).toContain('train.py --epochs 1');
  const badge = detail.locator('h3').getByTestId('mlops-state');
  // Just submitted: the real operator may have started it already.
  await expect(badge).toHaveText(JUST_SUBMITTED);

  // -- the Training Operator runs it: replica pods, their processes, Running --------
  await expect(badge).toHaveText('Running', { timeout: 60000 });
  await expect(detail.getByTestId('mlops-conditions')).toContainText('PyTorchJobRunning');
  await expect(detail.getByTestId('mlops-parts')).toContainText('worker-0');
  // Events of the job's pods, as the real scheduler wrote them.
  await expect(detail.locator('.jp-mlops-events')).toContainText(`Scheduled Pod/${name}-master-0`);
  await page.screenshot({ path: `${ARTIFACTS}/galata-job-running.png` });

  // -- logs of the master, then of the worker ----------------------------------------
  const logs = detail.getByTestId('mlops-logs');
  await logs.getByRole('button', { name: 'Show logs' }).click();
  const logText = logs.getByTestId('mlops-log-text');
  await expect(logText).toContainText('master says hi');
  await expect(logText).toContainText('loss=0.5');
  // Follow is on: what the master prints next appears without asking again.
  letTheMasterGoOn();
  await expect(logText).toContainText('loss=0.25');
  await logs.getByLabel('Logs of').selectOption('worker-0');
  await expect(logText).toContainText('worker 0 up');
  await expect(logText).not.toContainText('master says hi');
  await page.screenshot({ path: `${ARTIFACTS}/galata-job-logs.png` });

  // -- cancel, confirmed in a dialog ---------------------------------------------------
  await detail.getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(badge).toHaveText('Cancelled');
  expect(getJson('pytorchjob', name).spec.runPolicy.suspend).toBe(true);
  // The operator deletes the suspended job's pods.
  await expect
    .poll(() => exists('pod', `${name}-master-0`) || exists('pod', `${name}-worker-0`), { timeout: 60000 })
    .toBe(false);

  // -- back in the list: badge, GPUs, and the filters --------------------------------
  await detail.getByRole('button', { name: '← My jobs' }).click();
  const jobs = sidebar.getByTestId('mlops-jobs');
  const row = jobs.locator(`[data-testid="mlops-job"][data-job="pytorchjob/${name}"]`);
  await expect(row.getByTestId('mlops-state')).toHaveText('Cancelled');
  await expect(row).toContainText(`2 × ${shortName}`);
  await jobs.getByLabel('Filter by kind').selectOption('sweep');
  await expect(row).toBeHidden();
  await expect(jobs).toContainText('No job matches these filters');
  await jobs.getByLabel('Filter by kind').selectOption('pytorchjob');
  await jobs.getByLabel('Filter by state').selectOption('Running');
  await expect(row).toBeHidden();
  await jobs.getByLabel('Filter by state').selectOption('Cancelled');
  await expect(row).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}/galata-jobs-filtered.png` });
  await jobs.getByLabel('Filter by kind').selectOption('');
  await jobs.getByLabel('Filter by state').selectOption('');

  // -- resubmit, confirmed: a new job with the same spec -----------------------------
  await row.getByRole('button', { name }).click();
  await expect(detail).toHaveAttribute('data-job', `pytorchjob/${name}`);
  await detail.getByRole('button', { name: 'Resubmit' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Resubmit' }).click();
  await expect(detail).not.toHaveAttribute('data-job', `pytorchjob/${name}`);
  const copy = await shownJob(detail);
  const resubmitted = getJson('pytorchjob', copy);
  expect(resubmitted.spec.pytorchReplicaSpecs.Worker.replicas).toBe(1);
  expect(resubmitted.spec.runPolicy?.suspend ?? false).toBe(false);
  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText(JUST_SUBMITTED);

  // In the list too, the copy's badge moves as the operator runs it.
  await detail.getByRole('button', { name: '← My jobs' }).click();
  const copyRow = jobs.locator(`[data-testid="mlops-job"][data-job="pytorchjob/${copy}"]`);
  await expect(copyRow).toBeVisible();
  await expect(copyRow.getByTestId('mlops-state')).toHaveText('Running', { timeout: 60000 });
  await copyRow.getByRole('button', { name: copy }).click();
  await expect(detail).toHaveAttribute('data-job', `pytorchjob/${copy}`);

  // -- delete: "Keep it" keeps it; confirmed, the job is gone ------------------------
  await detail.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Keep it' }).click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  expect(exists('pytorchjob', copy)).toBe(true);
  await detail.getByRole('button', { name: 'Delete' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Delete job' }).click();
  await expect(jobs).toBeVisible(); // back in the list
  await expect.poll(() => exists('pytorchjob', copy), { timeout: 30000 }).toBe(false);
  await expect(jobs.locator(`[data-job="pytorchjob/${copy}"]`)).toHaveCount(0);
  await expect(row).toBeVisible(); // the first one stays
  await page.screenshot({ path: `${ARTIFACTS}/galata-jobs-after-delete.png` });
});
