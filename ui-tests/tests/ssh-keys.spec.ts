// The SSH panel against the real SSH gateway's key API, behind a real
// JupyterHub: the connection help, then a public key added, a bad one refused
// in place, and the key removed after a confirmation.
// pytest provides the hub, the gateway and the server (tests/ssh/test_sidebar_ssh_keys.py).
import { expect, test } from '@jupyterlab/galata';

import { kubectl } from './cluster';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this spec through pytest (tests/ssh/test_sidebar_ssh_keys.py)`);
  }
  return value;
}

/** The fingerprints the gateway stored for the user (its key ConfigMap), or [] when none. */
function storedFingerprints(): string[] {
  const found = kubectl([
    'get', 'configmap', env('SSH_KEYS_CONFIGMAP'), '-n', env('SSH_KEYS_NAMESPACE'), '--ignore-not-found', '-o', 'json'
  ]);
  if (!found.trim()) {
    return [];
  }
  const keys = JSON.parse(JSON.parse(found).data?.['keys.json'] ?? '[]');
  return (Array.isArray(keys) ? keys : Object.values(keys)).map((k: any) => k.fingerprint);
}

test('add and remove a public key from the SSH panel', async ({ page }) => {
  const publicKey = env('SSH_TEST_PUBLIC_KEY');
  const fingerprint = env('SSH_TEST_FINGERPRINT');
  const user = env('SSH_TEST_USER');

  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'SSH' }).click();
  const ssh = sidebar.getByTestId('mlops-ssh');
  await expect(ssh.getByTestId('mlops-ssh-command')).toHaveText(`ssh -p 2222 ${user}@ssh.hub.example.org`);
  await expect(ssh.getByTestId('mlops-ssh-config')).toContainText(`User ${user}`);
  const keys = ssh.getByTestId('mlops-ssh-keys');
  await expect(keys).toContainText('No key yet');

  // Not a key: the gateway refuses, the panel says why, nothing is stored.
  await keys.getByLabel('Public key').fill('not a key');
  await keys.getByRole('button', { name: 'Add key' }).click();
  await expect(keys.getByRole('alert')).toContainText('not an OpenSSH public key');
  expect(storedFingerprints()).toEqual([]);

  await keys.getByLabel('Public key').fill(publicKey);
  await keys.getByRole('button', { name: 'Add key' }).click();
  const row = keys.locator('li', { hasText: fingerprint });
  await expect(row).toContainText('browser@laptop');
  await expect(keys.getByRole('alert')).toHaveCount(0);
  expect(storedFingerprints()).toEqual([fingerprint]);
  await page.screenshot({ path: `${ARTIFACTS}/galata-ssh-key-added.png` });

  // "Keep it" keeps it; confirmed, the key is gone from the gateway.
  await row.getByRole('button', { name: 'Remove' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Keep it' }).click();
  await expect(row).toBeVisible();
  expect(storedFingerprints()).toEqual([fingerprint]);
  await row.getByRole('button', { name: 'Remove' }).click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Remove' }).click();
  await expect(row).toHaveCount(0);
  await expect(keys).toContainText('No key yet');
  expect(storedFingerprints()).toEqual([]);
});
