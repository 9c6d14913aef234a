// Galata's Playwright configuration, pointed at the jupyter lab that pytest
// starts (tests/lab/test_sidebar_galata.py sets TARGET_URL) and at Debian's
// headless Chromium: Playwright's own browser downloads are never used.
//
// The projects share one researcher's namespace, so they run in order: the
// fresh sidebar (no job yet), then the jobs, then the errors (with
// the SSH key API away). `forbidden` runs on a server of its own, whose
// researcher has no rights; `ssh` against a real hub and SSH gateway
// (tests/ssh/test_sidebar_ssh_keys.py).
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

module.exports = {
  ...baseConfig,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  outputDir: process.env.GALATA_OUTPUT_DIR || 'test-results',
  webServer: undefined,
  timeout: 240000,
  expect: { timeout: 30000 },
  projects: [
    { name: 'fresh', testMatch: 'sidebar.spec.ts' },
    { name: 'jobs', testMatch: ['jobs.spec.ts', 'notebook.spec.ts', 'sweep.spec.ts', 'workflow.spec.ts'], dependencies: ['fresh'] },
    { name: 'errors', testMatch: 'errors.spec.ts', dependencies: ['jobs'] },
    { name: 'forbidden', testMatch: 'forbidden.spec.ts' },
    { name: 'ssh', testMatch: 'ssh-keys.spec.ts' }
  ],
  use: {
    ...baseConfig.use,
    baseURL: process.env.TARGET_URL,
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  }
};
