// A researcher whose rights the cluster's RBAC has taken away (pytest deletes
// their role bindings before the server starts): the jobs list says why it
// cannot list, in place, and the server answers 403.
import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('an API server that refuses the researcher is said in the jobs list', async ({ page }) => {
  const response = await page.request.get('mlops/api/v1/jobs');
  expect(response.status()).toBe(403);
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const jobs = page.locator(SIDEBAR).getByTestId('mlops-jobs');
  await expect(jobs.getByRole('alert')).toContainText((await response.json()).message);
  await expect(jobs.getByRole('alert')).toContainText(/forbidden|not allowed|permission/i);
  await expect(jobs).not.toContainText('You have no jobs yet');
  await page.screenshot({ path: `${ARTIFACTS}/galata-jobs-forbidden.png` });
});
