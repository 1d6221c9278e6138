// Opens a page in Debian's Chromium (playwright-core, never a downloaded browser) and reports, as
// one JSON line, what a person would see go wrong: console errors, page errors, failed requests,
// and for a quality report whether every chart drew (window.reportRendered, window.reportErrors).
//   node tests/ops/render_page.js FILE_OR_URL SCREENSHOT.png
const { chromium } = require('playwright-core');

(async () => {
  const [target, screenshot] = process.argv.slice(2);
  const url = /^[a-z]+:\/\//.test(target) ? target : 'file://' + require('path').resolve(target);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                          args: ['--no-sandbox'] });
  const problems = { console: [], page: [], requests: [], offline_requests: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('console', (msg) => { if (msg.type() === 'error') problems.console.push(msg.text()); });
    page.on('pageerror', (err) => problems.page.push(String(err)));
    page.on('requestfailed', (req) => problems.requests.push(req.url()));
    page.on('request', (req) => { if (!/^(file|data|blob|about):/.test(req.url())) problems.offline_requests.push(req.url()); });
    await page.goto(url, { waitUntil: 'load' });
    await page.evaluate(() => window.reportRendered.then(() => true));
    const charts = await page.$$eval('.chart', (nodes) => nodes.map((n) => ({
      id: n.id, svg: n.querySelectorAll('svg').length, marks: n.querySelectorAll('svg .mark-rect path, svg .mark-line path, svg .mark-symbol path, svg .mark-text text').length,
      text: n.textContent.slice(0, 200) })));
    const reportErrors = await page.evaluate(() => window.reportErrors || []);
    const links = await page.$$eval('a', (nodes) => nodes.map((a) => a.href));
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ ...problems, charts, reportErrors, links, title: await page.title() }));
  } finally {
    await browser.close();
  }
})().catch((err) => { console.log(JSON.stringify({ fatal: String(err) })); process.exit(1); });
