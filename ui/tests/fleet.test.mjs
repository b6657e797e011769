// The UI served by `sightline aggregator` over every node's rows (tests/e2e/fleet.sh starts three
// agents, the aggregator, ClickHouse and the workload): the service map joins a request's two
// halves seen on two nodes, the flame graph merges a burner's two nodes (SL_BURN: their samples
// in ClickHouse), the query page reads ClickHouse.
//   SL_URL=http://127.0.0.1:AGGREGATOR SL_SHOTS=DIR SL_BURN=N SL_EDGES='[["curl (node-1)","python3 (node-2)",20],...]' node --test ui/tests/fleet.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { open, SHOTS, ui, URL_, useBrowser } from "./browser.mjs";

const EDGES = JSON.parse(process.env.SL_EDGES ?? "[]");
useBrowser(/status of (400|503)/);  // a refused write; ClickHouse down in the faults test
const page = ui.current;
const errors = ui.errors;

test("overview: the three nodes, each with the requests it stored and nothing lost", async () => {
  await open("overview");
  assert.equal(await page.getAttribute('.card[data-metric="nodes"]', "data-value"), "3");
  assert.equal(await page.getAttribute('.card[data-metric="silent"]', "data-value"), "0");
  const rows = await page.locator("table.grid tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => [r[0], r[2], r[5]]), [["node-1", "20", "0"], ["node-2", "40", "0"], ["node-3", "20", "0"]]);
  // The merged metrics over time, from Prometheus (PromQL through the aggregator).
  for (const q of ["sum(rate(sightline_events_total[1m]))", "sum(rate(process_cpu_seconds_total[1m]))"])
    assert.ok(Number(await page.getAttribute(`.chart[data-query="${q}"]`, "data-points")) > 0, `no points for ${q}`);
  assert.ok((await page.locator(".u-wrap").count()) >= 2, "no charts");
  await page.screenshot({ path: `${SHOTS}/fleet-overview.png`, fullPage: true });
});

test("service map: every node's halves joined into edges across nodes, with exact counts", async () => {
  assert.ok(EDGES.length, "SL_EDGES is empty");
  await open("servicemap?range=15m");
  for (const [client, server, n] of EDGES) {
    const edge = page.locator(`g.edge[data-client="${client}"][data-server="${server}"]`);
    assert.equal(await edge.count(), 1, `no ${client} -> ${server} edge`);
    const row = page.locator("table.grid tbody tr", { hasText: `${client}` }).filter({ hasText: server });
    assert.equal(await row.count(), 1, `no ${client} -> ${server} row`);
    const cells = await row.locator("td").allTextContents();
    assert.ok(cells.includes(String(n)), `${client} -> ${server}: ${cells} lacks ${n} requests`);
  }
  assert.equal(await page.locator("g.edge").count(), EDGES.length, "edges beyond the workload's");
  await page.screenshot({ path: `${SHOTS}/fleet-servicemap.png`, fullPage: true });
  // One node's: the edges with an end on it.
  await open("servicemap?range=15m&node=node-3");
  assert.equal(await page.inputValue('select[aria-label="Node"]'), "node-3");
  assert.deepEqual(await page.locator("g.edge").evaluateAll((g) => g.map((e) => `${e.dataset.client} -> ${e.dataset.server}`)),
    ["python3 (node-2) -> postgres (node-3)"]);
});

test("profiles: the burner's flame graph merges its two nodes; the node selector shows one", async () => {
  const total = Number(process.env.SL_BURN ?? 0);
  assert.ok(total > 0, "SL_BURN is not set");
  const burned = async () => {
    let n = 0;
    for (const t of await page.locator('.frame[data-name="sl_fleet_burn"]').evaluateAll((els) => els.map((e) => e.title)))
      n += Number(/\n(\d+) samples?/.exec(t)?.[1] ?? NaN);
    return n;
  };
  await open("profiles?range=15m");
  assert.equal(await page.locator('select[aria-label="Node"] option').count(), 3, "all nodes, node-1, node-2");
  assert.equal(await burned(), total, "the fleet's sl_fleet_burn samples are both nodes'");
  await page.screenshot({ path: `${SHOTS}/fleet-profiles.png`, fullPage: true });
  await page.selectOption('select[aria-label="Node"]', "node-1");
  await page.waitForFunction(() => /Where node node-1/.test(document.querySelector(".page[data-ready]")?.textContent ?? ""), null, { timeout: 20000 });
  const one = await burned();
  assert.ok(one > 0 && one < total, `node-1 alone: ${one} of ${total}`);
});

test("requests: every node's requests, with their node; a service's own", async () => {
  await open("requests?range=15m");
  const nodes = await page.locator("table.grid tbody tr td:nth-child(2)").allTextContents();
  assert.equal(nodes.length, 80, "the 80 request rows (20 GETs and 20 queries, each at both ends)");
  assert.deepEqual([...new Set(nodes)].sort(), ["node-1", "node-2", "node-3"]);
  assert.ok(Number(await page.getAttribute("canvas.heatmap", "data-cells")) > 0, "empty heat map");
  await open("requests?range=15m&node=node-2");
  const two = await page.locator("table.grid tbody tr td:nth-child(2)").allTextContents();
  assert.equal(two.length, 40, "node-2's rows: the 20 GETs it served and the 20 queries it made");
  assert.deepEqual([...new Set(two)], ["node-2"]);
  await open("requests?range=15m&service=postgres&protocol=pgsql");
  const rows = page.locator("table.grid tbody tr");
  assert.equal(await rows.count(), 20);
  assert.match(await rows.first().textContent(), /node-3.*postgres.*server.*pgsql/);
  await rows.first().click();
  assert.match(await page.textContent(".detail pre"), /"node": "node-3"/);
  await page.screenshot({ path: `${SHOTS}/fleet-requests.png`, fullPage: true });
});

test("security: a node's alert, with its node", async () => {
  await open("security?range=1h");
  const alert = page.locator("article.alert", { hasText: "Fleet marker ran" });
  assert.equal(await alert.count(), 1);
  assert.equal(await alert.locator("[data-node]").getAttribute("data-node"), "node-1");
  assert.match(await alert.textContent(), /fleet marker ran \(pid=\d+\)/);
});

test("query: SQL on ClickHouse through the aggregator, its schema, and a refused write", async () => {
  await open("query");
  assert.ok((await page.locator("aside.schema details").count()) >= 1, "schema sidebar");
  await page.fill("textarea.sql", "SELECT node, count() AS n FROM request GROUP BY node ORDER BY node");
  await page.click("text=Run (Ctrl+Enter)");
  await page.waitForSelector(".result table.grid, .result .error");
  const cells = await page.locator(".result table.grid tbody td").allTextContents();
  assert.deepEqual(cells, ["node-1", "20", "node-2", "40", "node-3", "20"]);
  await page.fill("textarea.sql", "INSERT INTO request (node) VALUES ('forged')");
  await page.click("text=Run (Ctrl+Enter)");
  await page.waitForSelector(".result .error");
  assert.match(await page.textContent(".result .error"), /readonly/);
  await page.screenshot({ path: `${SHOTS}/fleet-query.png`, fullPage: true });
  assert.deepEqual(errors, []);
});

test("faults: with ClickHouse down a page names it, and comes back by itself when it is up", async () => {
  assert.ok(process.env.SL_CH_STOP && process.env.SL_CH_START, "SL_CH_STOP and SL_CH_START are not set");
  execFileSync("bash", ["-c", process.env.SL_CH_STOP]);
  await page.goto(`${URL_}/#/servicemap?range=15m`);
  await page.waitForSelector(".page[data-ready]", { timeout: 20000 });
  assert.equal(await page.getAttribute(".page", "data-ready"), "error");
  assert.match(await page.textContent(".page .error"), /503: ClickHouse at http:\/\/127\.0\.0\.1:\d+ does not answer/);
  await page.screenshot({ path: `${SHOTS}/fleet-down.png`, fullPage: true });
  execFileSync("bash", ["-c", process.env.SL_CH_START]);
  await page.waitForSelector('.page[data-ready="1"]', { timeout: 60000 });
  assert.ok((await page.locator("g.edge").count()) > 0, "the service map after ClickHouse came back");
});
