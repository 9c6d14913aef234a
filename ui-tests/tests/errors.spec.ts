// Every server error is said in place, in words the user can act on: bad
// submissions (refused by the server, nothing created) and an SSH key API that
// does not answer. (An API server that refuses the researcher: forbidden.spec.ts.)
import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = '#jupyter-mlops-sidebar';
const ARTIFACTS = process.env.ARTIFACTS_DIR || 'test-results';

test('bad submissions are refused in place, naming the field', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'Submit' }).click();
  const form = sidebar.getByTestId('mlops-submit');

  await form.getByLabel('File').fill('notes.txt');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();
  await expect(form.getByRole('alert')).toContainText('neither a notebook');

  // The jobs API refuses an invalid name (400) and says which field.
  await form.getByLabel('File').fill('train.py');
  await form.getByLabel('Name').fill('Not_A_Valid_Name');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();
  await expect(form.getByRole('alert')).toContainText('name');
  await page.screenshot({ path: `${ARTIFACTS}/galata-submit-error.png` });

  // A .py file that defines no Hera Workflow: the server ran it and says so.
  await form.getByRole('tab', { name: 'Hera workflow' }).click();
  await form.getByLabel('File').fill('train.py');
  await form.getByRole('button', { name: 'Submit', exact: true }).click();
  await expect(form.getByRole('alert')).toContainText('defines 0 Hera Workflows');
  await expect(sidebar.getByTestId('mlops-detail')).toHaveCount(0);
});

test('an SSH key API that does not answer is said in words', async ({ page }) => {
  await page.sidebar.openTab('jupyter-mlops-sidebar');
  const sidebar = page.locator(SIDEBAR);
  await sidebar.getByRole('tab', { name: 'SSH' }).click();
  const ssh = sidebar.getByTestId('mlops-ssh');
  // The connection help needs no key API.
  await expect(ssh.getByTestId('mlops-ssh-command')).toHaveText(/^ssh -p 2222 \S+@ssh\.hub\.example\.org$/);
  await expect(ssh.getByTestId('mlops-ssh-config')).toContainText('HostName ssh.hub.example.org');
  const alert = ssh.getByRole('alert');
  await expect(alert).toContainText("The SSH gateway's key API");
  await expect(alert).toContainText('did not answer');
  await page.screenshot({ path: `${ARTIFACTS}/galata-ssh-unreachable.png` });
});
