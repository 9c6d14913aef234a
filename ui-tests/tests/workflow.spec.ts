// A Hera workflow from a .py file through the Submit form: the server runs the
// file, submits the one Workflow it defines; Argo's real workflow-controller
// runs it (its steps run as local processes), and its steps appear with the
// phases the controller writes: two that ran, one skipped by its `when`.
import { expect, test } from '@jupyterlab/galata';

import { getJson, HERA_FILE } from './cluster';

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
  expect(workflow.spec.templates.map((t: any) => t.name).sort()).toEqual(['evaluate', 'main', 'prepare', 'publish']);
  // Argo's part, for real: the workflow-controller runs both steps and skips the third.
  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText('Succeeded', { timeout: 180000 });
  const steps = detail.getByTestId('mlops-parts');
  await expect(steps.locator('tbody tr')).toHaveCount(3);
  const expected = [
    ['prepare', 'Succeeded'],
    ['evaluate', 'Succeeded'],
    ['publish', 'Skipped']
  ];
  for (const [index, [step, state]] of expected.entries()) {
    await expect(steps.locator('tbody tr').nth(index)).toContainText(step);
    await expect(steps.locator('tbody tr').nth(index).getByTestId('mlops-state')).toHaveText(state);
  }
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
