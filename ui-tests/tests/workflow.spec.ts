// A Hera workflow from a .py file through the Submit form: the server runs the
// file, submits the one Workflow it defines; its steps and their phases appear
// when Argo's status is written.
//
// No Argo controller runs here: the spec writes the Workflow's status (its
// nodes) through the status subresource, as the workflow-controller does.
import { expect, test } from '@jupyterlab/galata';

import { getJson, HERA_FILE, writeStatus } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('a Hera workflow from a .py file; its steps with their phases', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'Submit' }).click();
  const form = sidebar.getByTestId('mlops-submit');
  await form.getByRole('tab', { name: 'Hera workflow' }).click();
  await expect(form.getByLabel('Arguments')).toHaveCount(0); // the file says everything
  await form.getByLabel('File').fill(HERA_FILE);
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = sidebar.getByTestId('mlops-detail');
  await expect(detail).toHaveAttribute('data-job', /^workflow\/pipeline-/);
  const name = ((await detail.getAttribute('data-job')) ?? '').split('/', 2)[1];
  const workflow = getJson('workflow', name);
  expect(workflow.spec.entrypoint).toBe('main');
  expect(workflow.spec.templates.map((t: any) => t.name).sort()).toEqual(['evaluate', 'main', 'prepare']);
  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText('Pending');

  // Argo's part: the workflow runs, one step done and one running.
  writeStatus('workflow', name, {
    phase: 'Running',
    startedAt: '2026-01-01T00:00:00Z',
    nodes: {
      [`${name}-1`]: { id: `${name}-1`, displayName: 'prepare', type: 'Pod', phase: 'Succeeded', startedAt: '2026-01-01T00:00:01Z' },
      [`${name}-2`]: { id: `${name}-2`, displayName: 'evaluate', type: 'Pod', phase: 'Running', startedAt: '2026-01-01T00:00:02Z' }
    }
  });
  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText('Running');
  const steps = detail.getByTestId('mlops-parts');
  await expect(steps.locator('tbody tr')).toHaveCount(2);
  await expect(steps.locator('tbody tr').nth(0)).toContainText('prepare');
  await expect(steps.locator('tbody tr').nth(0).getByTestId('mlops-state')).toHaveText('Succeeded');
  await expect(steps.locator('tbody tr').nth(1)).toContainText('evaluate');
  await expect(steps.locator('tbody tr').nth(1).getByTestId('mlops-state')).toHaveText('Running');
  await page.screenshot({ path: `${ARTIFACTS}/galata-workflow-steps.png`, fullPage: true });

  // My jobs holds every kind in one list: the project's earlier specs left a
  // PyTorchJob and a sweep in this namespace, this one a workflow.
  await detail.getByRole('button', { name: '← My jobs' }).click();
  const jobs = sidebar.getByTestId('mlops-jobs');
  await expect(jobs.locator(`[data-job="workflow/${name}"]`)).toContainText('Workflow');
  for (const kind of ['pytorchjob', 'sweep', 'workflow']) {
    await expect(jobs.locator(`[data-testid="mlops-job"][data-job^="${kind}/"]`).first()).toBeVisible();
  }
  await page.screenshot({ path: `${ARTIFACTS}/galata-jobs-all-kinds.png` });
});
