// A PyTorchJob from the notebook open in the main area: the palette's
// "Submit a GPU job" offers it as the file to run, and the job runs it with
// IPython, shipping its folder as the code snapshot.
import { expect, test } from '@jupyterlab/galata';

import { getJson } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';

// The notebook has no kernel, so Galata need not track kernels or sessions
// (its tracking replays those calls from Node, which failed here now and then
// with an HTTP parse error on GET /api/sessions).
test.use({ kernels: null, sessions: null });

test('the open notebook is offered and submitted as a PyTorchJob', async ({ page }) => {
  // No kernel: the notebook runs in the job, not here.
  await page.notebook.createNew('experiment.ipynb', { kernel: null });

  await page.keyboard.press('Control+Shift+C');
  await page.locator('#modal-command-palette input').fill('Submit a GPU job');
  await page.keyboard.press('Enter');
  const form = page.locator(SIDEBAR).getByTestId('mlops-submit');
  await expect(form).toBeVisible();
  // Galata gives each test a folder of its own in the server's root.
  await expect(form.getByLabel('File')).toHaveValue(/(^|\/)experiment\.ipynb$/);
  await form.getByRole('button', { name: 'Submit', exact: true }).click();

  const detail = page.locator(SIDEBAR).getByTestId('mlops-detail');
  await expect(detail).toHaveAttribute('data-job', /^pytorchjob\//);
  const name = ((await detail.getAttribute('data-job')) ?? '').split('/', 2)[1];
  const master = getJson('pytorchjob', name).spec.pytorchReplicaSpecs.Master.template.spec.containers[0];
  expect([...(master.command ?? []), ...(master.args ?? [])].join(' ')).toContain('ipython --no-banner experiment.ipynb');
});
