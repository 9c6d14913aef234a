// Galata's Playwright configuration, pointed at the jupyter lab that pytest
// starts (tests/lab/test_sidebar_galata.py sets TARGET_URL) and at Debian's
// headless Chromium: Playwright's own browser downloads are never used.
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

module.exports = {
  ...baseConfig,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  outputDir: process.env.GALATA_OUTPUT_DIR || 'test-results',
  webServer: undefined,
  timeout: 240000,
  use: {
    ...baseConfig.use,
    baseURL: process.env.TARGET_URL,
    video: 'off',
    trace: 'off',
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
