// Drives Debian's Chromium with playwright-core for the Python browser tests: one JSON command per
// line on stdin, one JSON answer per line on stdout. Never downloads a browser.
const readline = require("readline");
const { chromium } = require("playwright-core");

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"];

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
  let context = null, page = null;
  const problems = [];
  // What a hostile page could do, observed: dialogs it opens (dismissed at once), every request it
  // makes (by address), and every Content Security Policy violation the browser reports.
  const seen = { dialogs: [], requests: [], csp: [] };
  async function open(locale, headers) {
    if (context) await context.close();
    // `headers`: what an identity-aware proxy adds to every request of a signed-in person (the owner).
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 },
                                         locale: locale || "en-US", extraHTTPHeaders: headers || {} });
    await context.exposeBinding("__mfViolation", (source, violation) => { seen.csp.push(violation); });
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        window.__mfViolation(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    page = await context.newPage();
    // Failed loads are reported by address (the console message does not say which one failed).
    page.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text()); });
    page.on("pageerror", (e) => problems.push(String(e)));
    page.on("dialog", (d) => { seen.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on("request", (r) => { seen.requests.push(r.url()); });
    page.on("response", (r) => {
      if (r.request().resourceType() === "document" && r.frame() === page.mainFrame()) {
        lastDocument = { status: r.status(), type: r.headers()["content-type"] || "", url: r.url() };
      }
    });
  }
  let lastDocument = null, measured = null;
  await open();
  const commands = {
    context: async (c) => { await open(c.locale, c.headers); return {}; },
    seen: async () => { const out = { dialogs: seen.dialogs.splice(0), requests: seen.requests.splice(0), csp: seen.csp.splice(0) }; return out; },
    // The last page the tab navigated to (after the link's own form post and any redirect).
    document: async () => ({ document: lastDocument }),
    goto: async (c) => { const r = await page.goto(c.url, { waitUntil: "load" }); return { status: r && r.status() }; },
    wait_for: async (c) => { await page.waitForSelector(c.selector, { timeout: c.timeout || 60000, state: c.state || "visible" }); return {}; },
    wait_url: async (c) => { await page.waitForURL(new RegExp(c.pattern), { timeout: c.timeout || 60000 }); return {}; },
    click: async (c) => { await page.click(c.selector, { timeout: c.timeout || 30000 }); return {}; },
    click_and_wait: async (c) => {
      try {
        await Promise.all([page.waitForNavigation({ waitUntil: "load", timeout: 60000 }), page.click(c.selector)]);
      } catch (err) {
        // The page's own live reload had begun when the form was posted: the post wins and that reload is
        // aborted. Wait for the post's page instead.
        if (!/ERR_ABORTED|frame was detached/.test(String(err))) throw err;
        await page.waitForLoadState("load", { timeout: 60000 });
      }
      return {};
    },
    fill: async (c) => { await page.fill(c.selector, c.value); return {}; },
    select: async (c) => { await page.selectOption(c.selector, c.value); return {}; },
    text: async (c) => ({ text: await page.innerText(c.selector || "body") }),
    html: async () => ({ html: await page.content() }),
    url: async () => ({ url: page.url() }),
    title: async () => ({ title: await page.title() }),
    count: async (c) => ({ count: await page.locator(c.selector).count() }),
    evaluate: async (c) => ({ value: await page.evaluate(c.script) }),
    // Every image of the page (lazy ones too: made eager), once each has loaded or failed.
    images_loaded: async () => ({ value: await page.evaluate(async () => {
      const images = Array.from(document.images);
      // The page asks for images as they come into view: ask for all of them now.
      images.forEach((i) => { if (i.dataset.src) { i.src = i.dataset.src; i.removeAttribute("data-src"); } });
      await Promise.all(images.map((i) => i.decode().catch(() => null)));
      return images.map((i) => ({ src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0 }));
    }) }),
    screenshot: async (c) => { await page.screenshot({ path: c.path, fullPage: c.full !== false }); return {}; },
    download: async (c) => {
      const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click(c.selector)]);
      await download.saveAs(c.path);
      return { name: download.suggestedFilename() };
    },
    // One load of `url` for the review benchmark, in a new browser context (an empty HTTP cache) unless
    // `reuse` (the context of the previous measure: a revisit): paint timings, the navigation's timings,
    // and every response's bytes by kind; with `all`, every lazy image is loaded too (the whole weight).
    measure: async (c) => {
      if (!c.reuse || !measured) {
        if (measured) await measured.close();
        measured = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: c.locale || "en-US" });
        await measured.addCookies(c.cookies || []);
      }
      const tab = await measured.newPage();
      const responses = [], pending = [];
      tab.on("response", (r) => {
        pending.push(Promise.all([r.body(), r.request().sizes()])
          .then(([b, sizes]) => responses.push({ url: r.url(), kind: r.request().resourceType(), status: r.status(),
                                                 bytes: b.length, sent: sizes.responseBodySize }))
          .catch(() => {}));
      });
      await tab.goto(c.url, { waitUntil: "load" });
      const timing = await tab.evaluate(() => new Promise((done) => {
        let lcp = null;
        new PerformanceObserver((list) => { const e = list.getEntries(); lcp = e[e.length - 1].startTime; })
          .observe({ type: "largest-contentful-paint", buffered: true });
        setTimeout(() => {
          const paint = {}; performance.getEntriesByType("paint").forEach((e) => { paint[e.name] = e.startTime; });
          const nav = performance.getEntriesByType("navigation")[0];
          const bytes = (t) => new TextEncoder().encode(t).length;
          done({ fp: paint["first-paint"], fcp: paint["first-contentful-paint"], lcp: lcp,
                 ttfb: nav.responseStart, html_done: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
                 load: nav.loadEventEnd,
                 css: Array.from(document.querySelectorAll("style")).reduce((n, e) => n + bytes(e.textContent), 0),
                 js: Array.from(document.querySelectorAll("script")).reduce((n, e) => n + bytes(e.textContent), 0),
                 images: document.images.length,
                 loaded: Array.from(document.images).filter((i) => i.complete && i.naturalWidth > 0).length });
        }, 300);
      }));
      if (c.all) {
        await tab.evaluate(async () => {
          const images = Array.from(document.images);
          images.forEach((i) => { if (i.dataset.src) { i.src = i.dataset.src; i.removeAttribute("data-src"); } });
          await Promise.all(images.map((i) => i.decode().catch(() => null)));
        });
      }
      await Promise.all(pending);
      await tab.close();
      return { timing, responses };
    },
    problems: async () => ({ problems: problems.splice(0) }),
    close: async () => { await browser.close(); return {}; },
  };
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    try {
      const answer = await commands[command.do](command);
      process.stdout.write(JSON.stringify({ ok: true, ...answer }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.message || err) }) + "\n");
    }
    if (command.do === "close") break;
  }
  lines.close();
  await browser.close().catch(() => {});
  process.exit(0);
}

main().catch((err) => { process.stdout.write(JSON.stringify({ ok: false, error: String(err) }) + "\n"); process.exit(1); });
