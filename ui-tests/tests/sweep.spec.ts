// A Katib sweep through the Submit form; when Katib's trials are written, the
// detail shows the trials table, the parallel-coordinates plot and the best trial.
//
// No Katib controller runs here: the spec creates the Trials and writes their
// status and the Experiment's through the status subresource, as Katib does.
import { expect, test } from '@jupyterlab/galata';

import { create, getJson, NAMESPACE, TRAIN_FILE, writeStatus } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('a sweep from the form; its trials draw the plot and name the best', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'Submit' }).click();
  const form = sidebar.getByTestId('mlops-submit');
  await form.getByRole('tab', { name: 'Katib sweep' }).click();
  await form.getByLabel('File').fill(TRAIN_FILE);
  await form.getByLabel('Search space').fill('lr double 0.001 0.1\nbatch categorical 32,64');
  await form.getByLabel('Goal').selectOption('maximize');
  await form.getByLabel('Trials').fill('3');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = sidebar.getByTestId('mlops-detail');
  await expect(detail).toHaveAttribute('data-job', /^sweep\//);
  const sweep = ((await detail.getAttribute('data-job')) ?? '').split('/', 2)[1];
  const experiment = getJson('sweep', sweep);
  expect(experiment.spec.parameters.map((p: any) => p.name)).toEqual(['lr', 'batch']);
  expect(experiment.spec.objective.objectiveMetricName).toBe('accuracy');
  expect(experiment.spec.maxTrialCount).toBe(3);
  await expect(detail.getByTestId('mlops-trials-plot')).toHaveCount(0);

  // Katib's part: three trials with their observations, then the Experiment's status.
  const trials: Array<[string, string, string]> = [
    ['0.01', '32', '0.81'],
    ['0.05', '64', '0.93'],
    ['0.09', '32', '0.77']
  ];
  trials.forEach(([lr, batch, accuracy], index) => {
    const trial = `${sweep}-trial${index}`;
    create({
      apiVersion: 'kubeflow.org/v1beta1',
      kind: 'Trial',
      metadata: { name: trial, namespace: NAMESPACE, labels: { 'katib.kubeflow.org/experiment': sweep } },
      spec: {
        parameterAssignments: [
          { name: 'lr', value: lr },
          { name: 'batch', value: batch }
        ]
      }
    });
    writeStatus('trial', trial, {
      conditions: [
        { type: 'Created', status: 'True' },
        { type: 'Succeeded', status: 'True' }
      ],
      observation: { metrics: [{ name: 'accuracy', latest: accuracy }] }
    });
  });
  writeStatus('sweep', sweep, {
    conditions: [
      { type: 'Created', status: 'True' },
      { type: 'Running', status: 'True' }
    ],
    trials: 3,
    trialsSucceeded: 3,
    currentOptimalTrial: {
      bestTrialName: `${sweep}-trial1`,
      parameterAssignments: [
        { name: 'lr', value: '0.05' },
        { name: 'batch', value: '64' }
      ],
      observation: { metrics: [{ name: 'accuracy', latest: '0.93' }] }
    }
  });

  const plot = detail.getByTestId('mlops-trials-plot');
  await expect(plot.locator('polyline')).toHaveCount(3);
  await expect(plot.locator('polyline.jp-mlops-line-best')).toHaveAttribute('data-trial', `${sweep}-trial1`);
  await expect(plot.locator('.jp-mlops-axis-name')).toHaveText(['lr', 'batch', 'accuracy']);
  const best = detail.getByTestId('mlops-best-trial');
  await expect(best).toContainText(`${sweep}-trial1`);
  await expect(best).toContainText('lr=0.05');
  await expect(best).toContainText('0.93');
  await expect(detail.getByTestId('mlops-trial')).toHaveCount(3);
  await expect(detail.locator('h3').getByTestId('mlops-state')).toHaveText('Running');
  await page.screenshot({ path: `${ARTIFACTS}/galata-sweep-trials.png`, fullPage: true });
});
