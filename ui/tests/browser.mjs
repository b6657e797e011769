// The browser the UI tests drive: Debian's chromium through playwright-core, one page at
// 1440x900, the script errors met on it (and console errors but those `ignore` matches: a 400
// a test provokes on purpose), open() a page of the UI and wait until it rendered, shot() it.
// SL_URL: the agent's or aggregator's address; SL_SHOTS: where screenshots go.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const URL_ = process.env.SL_URL;
export const SHOTS = process.env.SL_SHOTS ?? "/tmp";
export const ui = { page: null, errors: [] };
// The page as a test file holds it at load time, before the browser is up: each use goes to it.
ui.current = new Proxy({}, {
  get: (_, k) => {
    const v = ui.page[k];
    return typeof v === "function" ? v.bind(ui.page) : v;
  },
});

export function useBrowser(ignore = /status of 400/) {
  let browser;
  before(async () => {
    assert.ok(URL_, "SL_URL is not set");
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    ui.page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    ui.page.on("pageerror", (e) => ui.errors.push(String(e)));
    ui.page.on("console", (m) => { if (m.type() === "error" && !ignore.test(m.text())) ui.errors.push(m.text()); });
  });
  after(async () => { await browser?.close(); });
}

export async function open(hash) {
  await ui.page.goto(`${URL_}/#/${hash}`);
  await ui.page.waitForSelector(".page[data-ready]", { timeout: 20000 });
  const state = await ui.page.getAttribute(".page", "data-ready");
  assert.equal(state, "1", `page ${hash} failed: ${await ui.page.textContent(".page")}`);
}

export const shot = (name) => ui.page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
