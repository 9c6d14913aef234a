// A Katib sweep through the Submit form, run by the real Katib: its trials run
// sweep.py with the values goptuna proposes, Katib's collector reads the
// accuracy they print, and the detail shows the trials table, the
// parallel-coordinates plot and the best trial Katib names. Nothing here
// writes a Trial's or an Experiment's status.
import { expect, test } from '@jupyterlab/galata';

import { getJson, SWEEP_FILE } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('a sweep from the form; its trials draw the plot and name the best', async ({ page }) => {
  test.setTimeout(300_000);
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'Submit' }).click();
  const form = sidebar.getByTestId('mlops-submit');
  await form.getByRole('tab', { name: 'Katib sweep' }).click();
  await form.getByLabel('File').fill(SWEEP_FILE);
  await form.getByLabel('Search space').fill('lr double 0.001 0.1\nbatch categorical 32,64');
  await form.getByLabel('Goal').selectOption('maximize');
  await form.getByLabel('Trials').fill('3');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = sidebar.getByTestId('mlops-detail');
  await expect(detail).toHaveAttribute('data-job', /^sweep\//);
  const sweep = ((await detail.getAttribute('data-job')) ?? '').split('/', 2)[1];
  const submitted = getJson('sweep', sweep);
  expect(submitted.spec.parameters.map((p: any) => p.name)).toEqual(['lr', 'batch']);
  expect(submitted.spec.objective.objectiveMetricName).toBe('accuracy');
  expect(submitted.spec.maxTrialCount).toBe(3);

  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText('Succeeded', { timeout: 240_000 });
  const plot = detail.getByTestId('mlops-trials-plot');
  await expect(plot.locator('polyline')).toHaveCount(3);
  await expect(detail.getByTestId('mlops-trial')).toHaveCount(3);
  // The table says how many rows it has (it draws only those in view of a long sweep).
  await expect(detail.getByTestId('mlops-trials-table')).toHaveAttribute('aria-rowcount', '4');
  await expect(plot.locator('.jp-mlops-axis-name')).toHaveText(['lr', 'batch', 'accuracy']);

  // The best trial is the one Katib named, with the accuracy its process printed.
  const optimal = getJson('sweep', sweep).status.currentOptimalTrial;
  const lr = optimal.parameterAssignments.find((a: any) => a.name === 'lr').value;
  const accuracy = (1 - Math.abs(parseFloat(lr) - 0.05)).toFixed(4);
  await expect(plot.locator('polyline.jp-mlops-line-best')).toHaveAttribute('data-trial', optimal.bestTrialName);
  const best = detail.getByTestId('mlops-best-trial');
  await expect(best).toContainText(optimal.bestTrialName);
  await expect(best).toContainText(`lr=${lr}`);
  await expect(best).toContainText(accuracy);
  await page.screenshot({ path: `${ARTIFACTS}/galata-sweep-trials.png`, fullPage: true });
});
