// The MLOps sidebar's frame, driven through Galata: its GPU numbers are the
// cluster's and follow it live; the server extension it talks to; the palette
// entry, the launcher card and the layout restorer.
// pytest provides the server and the cluster (tests/lab/test_sidebar_galata.py).
import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { deletePod, gpuTotals, holdGpus } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

/** {gpu type: [free, total]} as the Cluster GPUs panel shows them. */
async function shownGpus(sidebar: Locator): Promise<Record<string, [number, number]>> {
  const shown: Record<string, [number, number]> = {};
  for (const item of await sidebar.getByTestId('mlops-gpu-type').all()) {
    const text = (await item.getByTestId('mlops-gpu-numbers').innerText()).trim();
    const match = /^(\d+) \/ (\d+) free$/.exec(text);
    expect(match, text).not.toBeNull();
    shown[(await item.getAttribute('data-gpu-type')) ?? ''] = [Number(match![1]), Number(match![2])];
  }
  return shown;
}

test('the Cluster GPUs panel shows what the cluster has, live', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar.getByTestId('mlops-gpu-type').first()).toBeVisible();

  // Whole-GPU totals as the API server holds them: schedulable nodes only (the
  // cordoned V100 node of the fleet offers nothing: absent, or 0 of 0).
  const { total: totals, cordoned } = gpuTotals();
  expect(Object.keys(totals).length).toBeGreaterThan(0);
  expect(cordoned).toEqual(['Tesla-V100-SXM2-32GB']);
  await expect
    .poll(async () => {
      const shown = await shownGpus(sidebar);
      return Object.fromEntries(Object.keys(totals).map(type => [type, shown[type]?.[1]]));
    })
    .toEqual(totals);
  for (const type of cordoned) {
    expect((await shownGpus(sidebar))[type]?.[1] ?? 0).toBe(0);
  }
  // Free counts are those the availability service answers the server.
  const response = await page.request.get('mlops/api/v1/gpus');
  expect(response.status()).toBe(200);
  const snapshot = await response.json();
  for (const type of Object.keys(totals)) {
    const { free, total } = snapshot.gpu_types[type];
    expect(total).toBe(totals[type]);
    expect(free).toBeLessThanOrEqual(total);
  }
  await expect(sidebar.getByText('You have no jobs yet')).toBeVisible();
  await expect(sidebar.getByTestId('mlops-profiles')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}/galata-sidebar-gpus.png` });

  // A pod takes one GPU of the whole-GPU type with the most free: the panel follows, no reload.
  const shown = await shownGpus(sidebar);
  const [type, [free]] = Object.entries(shown)
    .filter(([t]) => t in totals)
    .sort((a, b) => b[1][0] - a[1][0])[0];
  expect(free).toBeGreaterThan(0);
  const holder = `holder-${Date.now()}`;
  holdGpus(holder, type, 1);
  try {
    await expect.poll(async () => (await shownGpus(sidebar))[type][0], { timeout: 60000 }).toBe(free - 1);
  } finally {
    deletePod(holder);
  }
  await expect.poll(async () => (await shownGpus(sidebar))[type][0], { timeout: 60000 }).toBe(free);
});

test('the sidebar says which server extension answered, as whom', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const connected = page.locator(SIDEBAR).getByTestId('mlops-connected');
  await expect(connected).toBeVisible();
  const response = await page.request.get('mlops/api/v1/info');
  expect(response.status()).toBe(200);
  const info = await response.json();
  expect(info.name).toBe('jupyter_mlops');
  await expect(connected).toHaveText(`Connected to jupyter_mlops ${info.version} as ${info.user}`);
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

test('the layout restorer reopens the sidebar after a reload', async ({ page }) => {
  // The layout is saved to the workspace shortly after it changes: wait for that save.
  const saved = page.waitForRequest(
    r =>
      r.url().includes('api/workspaces') &&
      r.method() === 'PUT' &&
      (r.postData() ?? '').includes('"current":"jupyter-mlops-sidebar"')
  );
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  await expect(page.locator(SIDEBAR)).toBeVisible();
  await saved;
  await page.reload();
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  await expect(page.locator(SIDEBAR)).toBeVisible();
  await page.sidebar.close('left');
  await expect(page.locator(SIDEBAR)).toBeHidden();
});
