// A PyTorchJob from the notebook open in the main area: the palette's
// "Submit a GPU job" offers it as the file to run, and the job runs it with
// IPython, shipping its folder as the code snapshot.
import { expect, test } from '@jupyterlab/galata';

import { getJson } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';

test('the open notebook is offered and submitted as a PyTorchJob', async ({ page }) => {
  await page.notebook.createNew('experiment.ipynb');
  await page.notebook.setCell(0, 'code', "print('accuracy=0.9')");
  await page.notebook.save();

  await page.keyboard.press('Control+Shift+C');
  await page.locator('#modal-command-palette input').fill('Submit a GPU job');
  await page.keyboard.press('Enter');
  const form = page.locator(SIDEBAR).getByTestId('mlops-submit');
  await expect(form).toBeVisible();
  await expect(form.getByLabel('File')).toHaveValue('experiment.ipynb');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = page.locator(SIDEBAR).getByTestId('mlops-detail');
  await expect(detail).toHaveAttribute('data-job', /^pytorchjob\//);
  const name = ((await detail.getAttribute('data-job')) ?? '').split('/', 2)[1];
  const master = getJson('pytorchjob', name).spec.pytorchReplicaSpecs.Master.template.spec.containers[0];
  expect([...(master.command ?? []), ...(master.args ?? [])].join(' ')).toContain('ipython --no-banner experiment.ipynb');
});
