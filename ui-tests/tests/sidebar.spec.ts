// The MLOps sidebar driven through Galata: its GPU numbers are those of the
// REST API (fed by the real cluster), and the palette entry and launcher
// card open it. pytest provides the server (tests/lab/test_sidebar_galata.py).
import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('the Cluster GPUs panel shows what the cluster has', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar.getByTestId('mlops-gpu-type').first()).toBeVisible();

  const response = await page.request.get('mlops/api/v1/gpus');
  expect(response.status()).toBe(200);
  const snapshot = await response.json();
  const types = Object.keys(snapshot.gpu_types).sort();
  expect(types.length).toBeGreaterThan(0);
  await expect(sidebar.getByTestId('mlops-gpu-type')).toHaveCount(types.length);
  for (const type of types) {
    const { free, total } = snapshot.gpu_types[type];
    await expect(
      sidebar.locator(`[data-gpu-type="${type}"] [data-testid="mlops-gpu-numbers"]`)
    ).toHaveText(`${free} / ${total} free`);
  }
  await expect(sidebar.getByText('You have no jobs yet')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}/galata-sidebar-gpus.png` });
});

test('the command palette entry opens the sidebar', async ({ page }) => {
  await expect(page.locator(SIDEBAR)).toBeHidden();
  await page.keyboard.press('Control+Shift+C');
  await page.locator('#modal-command-palette input').fill('Show the MLOps sidebar');
  await page.keyboard.press('Enter');
  await expect(page.locator(SIDEBAR)).toBeVisible();
  await expect(page.locator(SIDEBAR).getByRole('tab', { name: 'GPUs & jobs' })).toHaveAttribute(
    'aria-selected',
    'true'
  );
});

test('the launcher card opens the Submit view', async ({ page }) => {
  await page.locator('.jp-LauncherCard', { hasText: 'MLOps job' }).click();
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar).toBeVisible();
  await expect(sidebar.getByRole('tab', { name: 'Submit' })).toHaveAttribute('aria-selected', 'true');
  await expect(sidebar.getByTestId('mlops-submit')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}/galata-launcher-submit.png` });
});
