// The pages. Each renders into `root` from the API, reading and writing its state in the URL.
import * as api from "./api";
import { type Band, timeChart } from "./chart";
import { FlameGraph, mergeBase, parseFolded } from "./flame";
import { serviceMapSvg } from "./servicemap";
import { card, errorBox, fmtBytes, fmtDur, fmtNum, fmtTime, h, RANGES, rangeSeconds, route, section, setParams, table } from "./ui";

type Page = (root: HTMLElement, params: URLSearchParams) => Promise<void | (() => void)>;

// ---- metrics from the store: the agent samples its /metrics into metric_samples ----

// The newest sample time, and the one before it (metric_times: the store's sample times).
const LATEST = "(SELECT max(time) FROM metric_times)";
const LAST_TWO = "(SELECT time FROM metric_times ORDER BY time DESC LIMIT 2)";

// Sum of a metric (optionally by one label) at each sample time in the window: at most ~1000
// of them, the last of each step, so a week reads as fast as an hour.
async function metricSeries(name: string, seconds: number, by?: string) {
  const key = by ? `json_extract(m.labels, '$.${by}')` : "''";
  const step = Math.max(1, Math.floor(seconds / 1000)) * 1e9;
  return api.rows(`SELECT s.time / 1000000 AS ms, ${key} AS k, sum(s.value) AS v FROM metric_samples s
    JOIN metric_series m ON m.id = s.series_id WHERE m.name = ${api.lit(name)} AND s.time IN
    (SELECT max(time) FROM metric_times WHERE ${api.since("time", seconds)} GROUP BY time / ${step})
    GROUP BY s.time, k ORDER BY s.time`, 100000);
}

// Per-second rate of a counter between consecutive samples.
function rates(points: { ms: number; v: number }[]) {
  const xs: number[] = [], ys: (number | null)[] = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].ms - points[i - 1].ms) / 1000;
    if (dt <= 0) continue;
    xs.push(points[i].ms / 1000);
    ys.push(Math.max(0, (points[i].v - points[i - 1].v) / dt));
  }
  return { xs, ys };
}

// The counter's rate over the last two samples, and a gauge's last value.
export async function lastRate(name: string): Promise<number> {
  const r = await api.rows(`SELECT s.time / 1000000 AS ms, sum(s.value) AS v FROM metric_samples s
    JOIN metric_series m ON m.id = s.series_id WHERE m.name = ${api.lit(name)} AND s.time IN ${LAST_TWO}
    GROUP BY s.time ORDER BY s.time`);
  if (r.length < 2) return NaN;
  const p = r.map((x) => ({ ms: Number(x.ms), v: Number(x.v) }));
  return rates(p).ys.at(-1) ?? NaN;
}
async function lastValue(name: string): Promise<number> {
  const r = await api.rows(`SELECT sum(s.value) AS v FROM metric_samples s JOIN metric_series m ON m.id = s.series_id
    WHERE m.name = ${api.lit(name)} AND s.time = ${LATEST}`);
  return r.length && r[0].v != null ? Number(r[0].v) : NaN;
}

function rangePicker(params: URLSearchParams, dflt = "1h"): HTMLElement {
  const cur = params.get("range") ?? dflt;
  return h("div", { class: "seg", role: "group", "aria-label": "Time range" },
    ...RANGES.map(([n]) => h("button", { class: n === cur ? "on" : "", onclick: () => setParams({ range: n }, false) }, n)));
}

// ---- Overview ----
// On the aggregator: the nodes that send, from their latest metrics, and what ClickHouse holds of each.
async function fleetOverview(root: HTMLElement, params: URLSearchParams) {
  const seconds = rangeSeconds(params);
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Fleet overview"),
    h("span", { class: "muted" }, "every node whose agent sends to this aggregator"), rangePicker(params)));
  const [{ nodes }, reqs] = await Promise.all([api.nodes(),
    api.rows(`SELECT node, count() AS n, sum(l7_error) AS e FROM request WHERE ${api.since("evt_time", 900)} GROUP BY node`)]);
  const byNode = new Map(reqs.map((r) => [String(r.node), r]));
  const silent = nodes.filter((n) => n.seconds_ago > 60).length;
  const lost = nodes.reduce((s, n) => s + n.events_lost, 0);
  root.append(h("div", { class: "cards" },
    card("Nodes", String(nodes.length), { metric: "nodes", raw: nodes.length }),
    card("Silent nodes", String(silent), { metric: "silent", raw: silent, tone: silent ? "bad" : "good", sub: "no metrics for a minute" }),
    card("Events lost", fmtNum(lost), { metric: "events_lost", raw: lost, tone: lost > 0 ? "bad" : "good", sub: "all nodes, since their agents started" })));
  const rows = nodes.map((n) => ({ ...n, requests: Number(byNode.get(n.node)?.n ?? 0), errors: Number(byNode.get(n.node)?.e ?? 0) }));
  root.append(section("Nodes", table([
    { key: "node", title: "Node", grow: true },
    { key: "seconds_ago", title: "Last metrics", num: true, render: (v) => `${fmtNum(Number(v), 1)} s ago` },
    { key: "requests", title: "Requests stored (15 min)", num: true }, { key: "errors", title: "Errors", num: true },
    { key: "events", title: "Events", num: true, render: (v) => fmtNum(Number(v)) },
    { key: "events_lost", title: "Lost", num: true },
    { key: "agent_rss_bytes", title: "Agent memory", num: true, render: (v) => fmtBytes(Number(v)) },
    { key: "agent_cpu_seconds", title: "Agent CPU s", num: true, render: (v) => fmtNum(Number(v), 1) }],
    rows as unknown as Record<string, unknown>[])));
  // The merged metrics over time, from the Prometheus they are forwarded to (PromQL).
  const charts = h("div", { class: "two" });
  root.append(charts);
  const step = Math.max(1, Math.ceil(seconds / 200));
  const chart = async (title: string, query: string, fmt: (v: number) => string) => {
    const box = h("div", { class: "chart", "data-query": query });
    charts.append(section(title, box));
    let series: api.PromSeries[];
    try {
      series = await api.promql(query, seconds, step);
    } catch (e) {
      if (e instanceof api.ApiError && e.message.startsWith("404")) {
        box.append(h("div", { class: "empty" }, "No Prometheus to chart from (aggregator.prometheus)."));
        return;
      }
      throw e;
    }
    const pts = series[0]?.values ?? [];
    box.setAttribute("data-points", String(pts.length));
    if (!pts.length) box.append(h("div", { class: "empty" }, "No points yet in this range."));
    else timeChart(box, pts.map((p) => p[0]), [{ label: title, values: pts.map((p) => Number(p[1])) }], fmt);
  };
  await Promise.all([
    chart("Events/s, all nodes", "sum(rate(sightline_events_total[1m]))", (v) => fmtNum(v)),
    chart("Agents' CPU (cores), all nodes", "sum(rate(process_cpu_seconds_total[1m]))", (v) => fmtNum(v, 3)),
  ]);
}

export const overview: Page = async (root, params) => {
  if (api.fleet()) return fleetOverview(root, params);
  const seconds = rangeSeconds(params);
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Node overview"), rangePicker(params)));
  const cards = h("div", { class: "cards" });
  root.append(cards);
  const [cpu, runq, iops, net, retr, agentCpu, rss, evps, lost, alerts, now] = await Promise.all([
    lastRate("sightline_cpu_seconds_total"), lastRate("sightline_runqueue_wait_seconds_total"), lastRate("sightline_block_ios_total"),
    lastRate("sightline_network_bytes_total"), lastRate("sightline_tcp_retransmits_total"), lastRate("process_cpu_seconds_total"),
    lastValue("process_resident_memory_bytes"), lastRate("sightline_events_total"), lastValue("sightline_events_lost_total"),
    api.rows(`SELECT count(*) AS n FROM alerts WHERE ${api.since("time", 3600)}`).then((r) => Number(r[0].n)),
    api.anomalies().then((a) => a.active.length, () => NaN),
  ]);
  cards.append(
    card("CPU busy", `${fmtNum(cpu, 2)} cores`, { metric: "cpu_cores", raw: cpu, sub: "all processes" }),
    card("Run-queue wait", `${fmtNum(runq, 3)} s/s`, { metric: "runq", raw: runq, sub: "time runnable tasks waited" }),
    card("Disk I/O", `${fmtNum(iops)} IOPS`, { metric: "iops", raw: iops }),
    card("Network", `${fmtBytes(net)}/s`, { metric: "net_bytes", raw: net, sub: "all interfaces" }),
    card("TCP retransmits", `${fmtNum(retr)}/s`, { metric: "retransmits", raw: retr, tone: retr > 0 ? "warn" : "" }),
    card("Alerts, last hour", String(alerts), { metric: "alerts_1h", raw: alerts, tone: alerts > 0 ? "bad" : "good" }),
    card("Anomalies now", Number.isNaN(now) ? "off" : String(now),
         { metric: "anomalies_now", raw: now, tone: now > 0 ? "bad" : "good", sub: "series off their usual range" }),
    card("Agent CPU", `${fmtNum(agentCpu * 100, 2)} %`, { metric: "agent_cpu", raw: agentCpu, sub: "of one core" }),
    card("Agent memory", fmtBytes(rss), { metric: "agent_rss", raw: rss }),
    card("Events", `${fmtNum(evps)}/s`, { metric: "events_per_s", raw: evps }),
    card("Events lost", fmtNum(lost), { metric: "events_lost", raw: lost, tone: lost > 0 ? "bad" : "good", sub: "since the agent started" }),
  );
  const charts = h("div", { class: "two" });
  root.append(charts);
  const cpuBox = h("div", { class: "chart" }), netBox = h("div", { class: "chart" });
  charts.append(section("CPU (cores)", cpuBox), section("Network (bytes/s)", netBox));
  const [cpuPts, netPts] = await Promise.all([metricSeries("sightline_cpu_seconds_total", seconds),
                                               metricSeries("sightline_network_bytes_total", seconds)]);
  const toPts = (r: Record<string, api.Cell>[]) => r.map((x) => ({ ms: Number(x.ms), v: Number(x.v) }));
  const c = rates(toPts(cpuPts)), n = rates(toPts(netPts));
  const bands = await anomalyBands(seconds);
  if (c.xs.length) timeChart(cpuBox, c.xs, [{ label: "cores", values: c.ys }], (v) => fmtNum(v, 2), bands);
  else cpuBox.append(h("div", { class: "empty" }, "Waiting for two samples of the agent's metrics (store.metrics_interval)."));
  if (n.xs.length) timeChart(netBox, n.xs, [{ label: "bytes/s", values: n.ys }], (v) => fmtBytes(v), bands);
  // Top processes by CPU over the last two samples.
  const top = await api.rows(`WITH t AS ${LAST_TWO},
    b AS (SELECT min(time) AS t0, max(time) AS t1 FROM t)
    SELECT json_extract(m.labels, '$.comm') AS comm,
      (sum(CASE WHEN s.time = b.t1 THEN s.value END) - coalesce(sum(CASE WHEN s.time = b.t0 THEN s.value END), 0)) / ((b.t1 - b.t0) / 1e9) AS cpu
    FROM metric_samples s JOIN metric_series m ON m.id = s.series_id, b
    WHERE m.name = 'sightline_cpu_seconds_total' AND s.time IN (b.t0, b.t1) AND b.t1 > b.t0
    GROUP BY comm ORDER BY cpu DESC LIMIT 10`);
  root.append(section("Top processes by CPU", table([
    { key: "comm", title: "Process", render: (v) => h("a", { href: `#/processes?comm=${encodeURIComponent(String(v))}` }, String(v)) },
    { key: "cpu", title: "CPU (cores)", num: true, render: (v) => fmtNum(Number(v), 3) },
  ], top)));
};

// The anomalies of the range as bands: each from its first point off to its end (or now), from
// the store's anomaly events (started and ended share signal, subject and since).
async function anomalyBands(seconds: number): Promise<Band[]> {
  const r = await api.rows(`SELECT anomaly_signal AS signal, anomaly_subject AS subject, anomaly_since / 1000000000 AS since,
    max(CASE WHEN anomaly_state = 'ended' THEN evt_time END) / 1000000000 AS until FROM anomaly
    WHERE ${api.since("evt_time", seconds)} GROUP BY 1, 2, 3 ORDER BY 3`).catch(() => []);
  const now = Date.now() / 1000;
  return r.map((a) => ({ from: Number(a.since), to: a.until == null ? now : Number(a.until), label: String(a.signal) }));
}

// ---- Anomalies ----
export const anomalies: Page = async (root) => {
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Anomalies")));
  let a: api.Anomalies;
  try {
    a = await api.anomalies();
  } catch (e) {
    root.append(h("div", { class: "empty" }, `Anomaly detection is off or unavailable (${String(e)}): anomaly.enabled in the configuration.`));
    return;
  }
  root.append(h("div", { class: "cards" },
    card("Now", String(a.active.length), { metric: "anomalies_active", raw: a.active.length, tone: a.active.length ? "bad" : "good" }),
    card("Ended lately", String(a.ended.length), { metric: "anomalies_ended", raw: a.ended.length }),
    card("Series modelled", `${a.series} of ${a.max_series}`, { metric: "anomaly_series", raw: a.series,
         sub: `${fmtBytes(a.series * a.bytes_per_series)}; every ${a.interval_s} s`, tone: a.refused_series ? "warn" : "" }),
  ));
  const cols = [
    { key: "since", title: "Since", render: (v: unknown) => fmtTime(Number(v) * 1000) },
    { key: "signal", title: "Signal" },
    { key: "subject", title: "Of", grow: true, render: (v: unknown) => String(v) || "the node" },
    { key: "direction", title: "Way" },
    { key: "value", title: "Value (worst)", num: true },
    { key: "usual", title: "Usual", num: true },
    { key: "score", title: "Spreads", num: true, render: (v: unknown) => fmtNum(Math.abs(Number(v)), 1) },
    { key: "related", title: "Started with it", grow: true },
  ];
  const fmtVal = (x: api.Anomaly, v: number) => x.unit === "s" ? fmtDur(v) : x.unit === "ratio" ? `${fmtNum(v * 100, 2)} %` : `${fmtNum(v, 2)} ${x.unit}`;
  const row = (x: api.Anomaly) => ({ since: x.since, signal: x.signal, subject: x.subject, direction: x.direction,
    value: fmtVal(x, x.value), usual: `${fmtVal(x, x.expected)} ± ${fmtVal(x, x.spread)}`, score: x.score,
    related: x.related.join(", "), until: x.until });
  root.append(section(`Going on (${a.active.length})`, a.active.length
    ? table(cols, a.active.map(row)) : h("div", { class: "empty" }, "Nothing is off its usual range now.")));
  root.append(section(`Ended (${a.ended.length}, newest first)`, a.ended.length
    ? table([...cols.slice(0, 1), { key: "until", title: "Until", render: (v: unknown) => fmtTime(Number(v) * 1000) }, ...cols.slice(1)],
            a.ended.map(row)) : h("div", { class: "empty" }, "None yet.")));
  root.append(h("p", { class: "muted" }, "Each series is compared with the same hour of the week (or of the day) once seen, with its recent past before: ",
    "an anomaly starts when 3 of 4 points are past the threshold's spreads in the signal's direction. sightline anomaly-eval measures the detector."));
};

// ---- Processes ----
export const processes: Page = async (root, params) => {
  const seconds = rangeSeconds(params);
  const comm = params.get("comm") ?? "";
  const filter = h("input", { type: "search", placeholder: "process name", value: comm, "aria-label": "Process name" });
  filter.addEventListener("change", () => setParams({ comm: filter.value }, false));
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Processes"), filter, rangePicker(params)));
  const where = [api.since("evt_time", seconds)];
  if (comm) where.push(`proc_name = ${api.lit(comm)}`);
  const execs = await api.rows(`SELECT evt_time / 1000000 AS ms, proc_pid AS pid, proc_ppid AS ppid, proc_pname AS parent,
    proc_name AS name, proc_args AS args, evt_errno AS err, user_uid AS uid, container_id AS container
    FROM exec WHERE ${where.join(" AND ")} ORDER BY evt_time DESC LIMIT 500`);
  // The tree of what was executed: children under the exec of their parent pid.
  const byPid = new Map<number, Record<string, api.Cell>>();
  for (const e of execs) byPid.set(Number(e.pid), e);
  const kids = new Map<number, Record<string, api.Cell>[]>();
  const roots: Record<string, api.Cell>[] = [];
  for (const e of [...execs].reverse()) {
    const p = Number(e.ppid);
    if (byPid.has(p) && p !== Number(e.pid)) kids.set(p, [...(kids.get(p) ?? []), e]);
    else roots.push(e);
  }
  const argv = (a: api.Cell) => { try { return (JSON.parse(String(a)) as string[]).join(" "); } catch { return String(a ?? ""); } };
  const node = (e: Record<string, api.Cell>, depth: number): HTMLElement => {
    const li = h("li", {}, h("span", { class: "pid" }, String(e.pid)), " ", h("b", {}, String(e.name)), " ",
      h("span", { class: "args" }, argv(e.args)), e.err ? h("span", { class: "badge bad" }, String(e.err)) : null,
      h("span", { class: "muted" }, ` ${fmtTime(Number(e.ms))}`));
    const ch = kids.get(Number(e.pid));
    if (ch && depth < 30) li.append(h("ul", {}, ...ch.map((c) => node(c, depth + 1))));
    return li;
  };
  root.append(section(`Exec tree (${execs.length} execs${execs.length === 500 ? ", the newest 500" : ""})`,
    execs.length ? h("ul", { class: "tree" }, ...roots.slice(-200).reverse().map((r) => node(r, 0))) : h("div", { class: "empty" }, "No exec in this range.")));
  if (comm) {
    const [sys, conns] = await Promise.all([
      api.rows(`SELECT json_extract(m.labels, '$.syscall') AS syscall, max(s.value) AS calls FROM metric_samples s JOIN metric_series m
        ON m.id = s.series_id WHERE m.name = 'sightline_syscalls_total' AND json_extract(m.labels, '$.comm') = ${api.lit(comm)}
        AND s.time = ${LATEST} GROUP BY 1 ORDER BY 2 DESC LIMIT 15`),
      api.rows(`SELECT evt_time / 1000000 AS ms, net_role AS role, fd_rip AS peer, fd_rport AS port, fd_rname AS name,
        tcp_bytes_sent AS tx, tcp_bytes_received AS rx, evt_errno AS err FROM tcp WHERE proc_name = ${api.lit(comm)}
        AND ${api.since("evt_time", seconds)} ORDER BY evt_time DESC LIMIT 100`),
    ]);
    root.append(h("div", { class: "two" },
      section(`Syscalls of ${comm} (since the agent started)`, sys.length
        ? table([{ key: "syscall", title: "Syscall" }, { key: "calls", title: "Calls", num: true }], sys)
        : h("div", { class: "empty" }, "No syscall counts: the syscalls source is off by default (sources.syscalls.enabled: true turns it on).")),
      section(`TCP connections of ${comm}`, table([
        { key: "ms", title: "Closed", render: (v) => fmtTime(Number(v)) }, { key: "role", title: "Role" },
        { key: "peer", title: "Peer", render: (v, r) => `${r.name || v}:${r.port}` },
        { key: "tx", title: "Sent", num: true, render: (v) => fmtBytes(Number(v)) }, { key: "rx", title: "Received", num: true, render: (v) => fmtBytes(Number(v)) },
        { key: "err", title: "Error" }], conns))));
  }
};

// On the aggregator: a select of the nodes whose rows `table` holds ("all nodes" first), the
// choice kept in the URL (node=).
async function nodeSelect(params: URLSearchParams, table: string): Promise<HTMLElement> {
  const node = params.get("node") ?? "";
  const nodes = (await api.rows(`SELECT DISTINCT node FROM ${table} ORDER BY node LIMIT 1000`)).map((r) => String(r.node));
  const sel = h("select", { "aria-label": "Node" }, ...["", ...nodes].map((n) => h("option", { value: n, ...(n === node ? { selected: true } : {}) }, n || "all nodes")));
  sel.addEventListener("change", () => setParams({ node: (sel as HTMLSelectElement).value || null }, false));
  return sel;
}

// ---- Requests ----
export const requests: Page = async (root, params) => {
  const seconds = rangeSeconds(params);
  const proto = params.get("protocol") ?? "", service = params.get("service") ?? "", status = params.get("status") ?? "";
  const minMs = Number(params.get("min_ms") ?? "0");
  const sel = (name: string, cur: string, opts: string[]) => {
    const s = h("select", { "aria-label": name }, ...opts.map((o) => h("option", { value: o, ...(o === cur ? { selected: true } : {}) }, o || `any ${name}`)));
    s.addEventListener("change", () => setParams({ [name]: s.value }, false));
    return s;
  };
  // From request_rollup (the request rows summed by ten minutes): a week reads in milliseconds.
  // The aggregator's ClickHouse has the rows of every node (a node column) and no rollup.
  const fleet = api.fleet();
  const services = (await api.rows(fleet
    ? `SELECT DISTINCT proc_name AS n FROM request WHERE ${api.since("evt_time", seconds)} AND net_role = 'server' LIMIT 100`
    : `SELECT DISTINCT proc_name AS n FROM request_rollup WHERE ${api.since("time", seconds)} AND net_role = 'server' LIMIT 100`)).map((r) => String(r.n));
  const minInput = h("input", { type: "number", min: 0, step: "any", value: minMs || "", placeholder: "min ms", "aria-label": "Minimum latency (ms)", class: "narrow" });
  minInput.addEventListener("change", () => setParams({ min_ms: minInput.value }, false));
  const node = fleet ? params.get("node") ?? "" : "";
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Requests"), fleet ? await nodeSelect(params, "request") : null,
    sel("protocol", proto, ["", "http", "http2", "grpc", "pgsql", "mysql", "redis", "dns", "memcached", "nats", "amqp"]), sel("service", service, ["", ...services]),
    sel("status", status, ["", "ok", "error"]), minInput, rangePicker(params)));
  const where = [api.since("evt_time", seconds)];
  if (node) where.push(`node = ${api.lit(node)}`);
  if (proto) where.push(`l7_protocol = ${api.lit(proto)}`);
  if (service) where.push(`proc_name = ${api.lit(service)} AND net_role = 'server'`);
  if (status === "error") where.push("l7_error = 1");
  if (status === "ok") where.push("l7_error = 0");
  if (minMs > 0) where.push(`l7_latency >= ${Math.round(minMs * 1e6)}`);
  const w = where.join(" AND ");
  // Heat map: time buckets x log2 latency buckets, each the requests the rows stand for
  // (l7_weight). From a day up, from request_rollup in steps of its ten minutes.
  const rolled = seconds >= 86400 && !fleet;
  const buckets = 60, step = rolled ? Math.ceil(seconds / buckets / 600) * 600 : Math.max(1, Math.ceil(seconds / buckets));
  const rw = [api.since("time", seconds)];
  if (proto) rw.push(`l7_protocol = ${api.lit(proto)}`);
  if (service) rw.push(`proc_name = ${api.lit(service)} AND net_role = 'server'`);
  if (status) rw.push(`l7_error = ${status === "error" ? 1 : 0}`);
  if (minMs > 0) rw.push(`latency_log2 >= ${Math.round(Math.log2(Math.max(minMs * 1e6, 1000)))}`);
  const heat = await api.rows(rolled
    ? `SELECT (time / 1000000000 / ${step}) * ${step} AS t, latency_log2 AS b, sum(requests) AS n FROM request_rollup
       WHERE ${rw.join(" AND ")} GROUP BY t, b`
    : `SELECT ${api.idiv("evt_time", 1000000000 * step)} * ${step} AS t, ${api.log2Int("l7_latency", 1000)} AS b,
       sum(${api.weight()}) AS n FROM request WHERE ${w} GROUP BY t, b`, 100000);
  const heatBox = h("canvas", { class: "heatmap", height: 220, "data-cells": heat.length });
  root.append(section("Latency over time (darker: more requests)", heatBox,
    h("div", { class: "muted small" }, "y: latency on a log scale, 1 µs to 10 s; x: the range, left to right")));
  requestAnimationFrame(() => drawHeat(heatBox, heat, seconds, step));
  const list = await api.rows(`SELECT ${fleet ? "node" : "rowid AS id"}, ${api.idiv("evt_time", 1000000)} AS ms, proc_name AS process, net_role AS role, l7_protocol AS protocol,
    l7_method AS method, l7_target AS target, l7_status AS status, dns_rcode AS rcode, l7_error AS error, l7_latency / 1e9 AS latency,
    l7_request_bytes AS req_b, l7_response_bytes AS resp_b, fd_rip AS peer, fd_rname AS peer_name, l7_request AS request,
    l7_error_text AS error_text, l7_rows AS rows_n, span_id AS span, req_timeline AS timeline, req_cpu_time AS cpu,
    req_runq_time AS runq, req_io_time AS io, req_lock_time AS lock, req_net_wait AS net, req_sleep_time AS sleep,
    req_other_wait AS other, req_downstream AS downstream, evt_time AS t_ns, ${api.asText("evt_time")} AS t_key, proc_tid AS tid, req_retransmits AS retrans FROM request WHERE ${w}
    ORDER BY evt_time DESC LIMIT 300`);
  const detail = h("div", { class: "detail" });
  root.append(h("div", { class: "split" },
    section(`Requests (${list.length}${list.length === 300 ? ", the newest 300" : ""})`, table([
      { key: "ms", title: "Time", fit: true, render: (v) => fmtTime(Number(v)) },
      ...(fleet ? [{ key: "node", title: "Node", fit: true }] : []), { key: "process", title: "Process", grow: true },
      { key: "role", title: "Side", fit: true }, { key: "protocol", title: "Proto", fit: true }, { key: "method", title: "Method", fit: true },
      { key: "target", title: "Target", grow: true },
      { key: "status", title: "Status", fit: true, render: (_v, r) => h("span", { class: `badge ${Number(r.error) ? "bad" : "good"}` }, statusText(r)) },
      { key: "latency", title: "Latency", num: true, fit: true, render: (v) => fmtDur(Number(v)) }], list, (r) => {
        detail.innerHTML = "";
        detail.append(h("h3", {}, `${r.method} ${r.target}`));
        const raw = h("pre", {}, JSON.stringify(r, null, 2));
        if (r.timeline || Number(r.downstream) || Number(r.retrans) > 0) {
          const box = h("div", {}, "…");
          detail.append(box, raw);
          waterfall(r).then((w) => box.replaceChildren(w), (e) => box.replaceChildren(errorBox(e)));
        } else {
          detail.append(raw);
        }
      })), section("Request", detail)));
};

// A server request's timeline (req.*: where its serving thread's time went, from its request's
// read to its answer) as one stacked bar, and the requests that thread made meanwhile (its
// children: trace_parent_id is its span) as bars at their offsets below it.
const TIMELINE: [string, string, string][] = [["cpu", "On CPU", "#4f9dff"], ["runq", "Run queue", "#f5a623"],
  ["io", "Block I/O", "#b36bff"], ["lock", "Lock", "#ff5d5d"], ["net", "Network", "#3ecf8e"], ["sleep", "Sleep", "#8a94a6"],
  ["other", "Other wait", "#5a6478"]];
async function waterfall(r: Record<string, unknown>): Promise<HTMLElement> {
  const total = Number(r.latency) * 1e9, t0 = Number(r.t_ns);
  const pct = (ns: number) => `${Math.max(0, Math.min(100, (ns / Math.max(total, 1)) * 100)).toFixed(2)}%`;
  const rows: HTMLElement[] = [];
  const row = (label: string, title: string, ...bars: HTMLElement[]) =>
    h("div", { class: "wf-row" }, h("div", { class: "wf-label", title }, label), h("div", { class: "wf-track" }, ...bars));
  const segs: HTMLElement[] = [];
  const legend: HTMLElement[] = [];
  let left = 0;
  if (r.timeline === "thread") {
    for (const [k, name, color] of TIMELINE) {
      const ns = Number(r[k] ?? 0);
      if (ns <= 0) continue;
      segs.push(h("div", { class: "wf-seg", "data-part": k, style: `left:${pct(left)};width:${pct(ns)};background:${color}`,
        title: `${name}: ${fmtDur(ns / 1e9)}` }));
      legend.push(h("span", { class: "wf-key" }, h("i", { style: `background:${color}` }), `${name} ${fmtDur(ns / 1e9)} (${pct(ns)})`));
      left += ns;
    }
    if (total > left) legend.push(h("span", { class: "wf-key" }, h("i", { class: "rest" }),
      `Answering and not accounted ${fmtDur((total - left) / 1e9)}`));
  } else {
    legend.push(h("span", { class: "muted small" }, r.timeline === "two threads"
      ? "Another thread answered than read the request: its time is not attributed."
      : "No timeline for this request (a client, or a protocol the kernel does not pair)."));
  }
  if (Number(r.retrans) > 0)
    legend.push(h("span", { class: "wf-key bad", "data-retrans": Number(r.retrans) },
      `TCP retransmits on its connection meanwhile: ${Number(r.retrans)}`));
  rows.push(row(`${r.method} ${r.target}`, String(r.request ?? ""),
    h("div", { class: "wf-bar whole", style: "left:0;width:100%" }), ...segs));
  const span = String(r.span ?? "");
  const children = span ? await api.rows(`SELECT evt_time AS t, l7_protocol AS protocol, l7_method AS method, l7_target AS target,
    l7_latency AS ns, l7_error AS error FROM request WHERE trace_parent_id = ${api.lit(span)} ORDER BY evt_time LIMIT 50`) : [];
  for (const c of children) {
    const off = Number(c.t) - t0, ns = Number(c.ns);
    rows.push(row(`${c.protocol} ${c.method} ${c.target}`, `${fmtDur(ns / 1e9)} at +${fmtDur(off / 1e9)}`,
      h("div", { class: `wf-bar child${Number(c.error) ? " bad" : ""}`, style: `left:${pct(off)};width:${pct(ns)}`,
        title: `${fmtDur(ns / 1e9)} at +${fmtDur(off / 1e9)}` })));
  }
  // Its thread's stacks meanwhile (a slow or failed request's, with the profile source): on-CPU
  // samples and off-CPU time, each a small flame graph.
  const stacks = r.timeline && r.tid && !api.fleet() ? await api.rows(`SELECT offcpu, stack, sum(value) AS n FROM request_stacks
    WHERE proc_tid = ${Number(r.tid)} AND time = ${api.lit(String(r.t_key))} GROUP BY offcpu, stack LIMIT 2000`) : [];
  const flames: HTMLElement[] = [];
  for (const off of [0, 1]) {
    const text = stacks.filter((x) => Number(x.offcpu) === off).map((x) => `${x.stack} ${x.n}`).join("\n");
    if (!text) continue;
    const info = h("div", { class: "muted small" });
    const box = h("div", { class: "flame", "data-kind": off ? "off" : "cpu" });
    new FlameGraph(box, parseFolded(text), (t) => (info.textContent = t), off ? "ns" : "samples");
    flames.push(h("div", { class: "wf-stacks" }, h("h4", {}, off ? "Off the CPU: where its thread waited" : "On the CPU: where its thread ran"), info, box));
  }
  return h("div", { class: "waterfall", "data-children": children.length, "data-parts": segs.length, "data-stacks": stacks.length },
    ...rows, h("div", { class: "wf-legend" }, ...legend),
    h("div", { class: "muted small" }, "The serving thread's time, from the sched source's accounting in the kernel. " +
      "Thread-per-request servers: all of it is this request's. Event loops (nginx, Node): the thread served others meanwhile."),
    ...flames);
}

// A request's status as its protocol names it: a DNS rcode, a memcached retrieval's hit or miss.
function statusText(r: Record<string, unknown>): string {
  if (r.rcode) return String(r.rcode);
  if (r.protocol === "memcached" && Number(r.status)) return Number(r.status) === 1 ? "hit" : "miss";
  return String(r.status);
}

function drawHeat(c: HTMLCanvasElement, cells: Record<string, api.Cell>[], seconds: number, step: number) {
  const ctx = c.getContext("2d");
  if (!ctx) return;
  c.width = c.clientWidth || 800;
  const W = c.width, H = c.height;
  ctx.fillStyle = "#0b1220";
  ctx.fillRect(0, 0, W, H);
  const now = Date.now() / 1000, t0 = now - seconds;
  const bmin = 10, bmax = 34; // 1 µs .. ~17 s in ns, log2
  const max = Math.max(1, ...cells.map((x) => Number(x.n)));
  const cw = Math.max(2, (W * step) / seconds), ch = H / (bmax - bmin);
  for (const x of cells) {
    const t = Number(x.t), b = Math.min(bmax, Math.max(bmin, Number(x.b))), n = Number(x.n);
    const k = Math.sqrt(n / max);
    ctx.fillStyle = `rgba(56, 189, 248, ${0.15 + 0.85 * k})`;
    ctx.fillRect(((t - t0) / seconds) * W, H - (b - bmin + 1) * ch, cw, ch);
  }
  ctx.fillStyle = "#94a3b8";
  ctx.font = "11px system-ui";
  for (const [label, ns] of [["1 ms", 1e6], ["100 ms", 1e8], ["10 µs", 1e4]] as [string, number][])
    ctx.fillText(label, 4, H - (Math.log2(ns) - bmin + 0.5) * ch);
}

// ---- Service map ----
export const servicemap: Page = async (root, params) => {
  const seconds = rangeSeconds(params, "15m");
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Service map"),
    h("span", { class: "muted" }, "rates over the range from the store's samples; red: with errors"), rangePicker(params, "15m")));
  const map = await api.serviceMap(seconds);
  const fleet = map.fleet, node = fleet ? params.get("node") ?? "" : "";
  // A node's edges: those with an end on it.
  const edges = node ? map.edges.filter((e) => e.client_node === node || e.server_node === node) : map.edges;
  if (fleet) root.querySelector(".toolbar")!.insertBefore(await nodeSelect(params, "request"), root.querySelector(".toolbar .muted"));
  // Per-edge rates over the range: the sampled counters' increase over their time span (on the
  // aggregator, the edges' own counts are the range's).
  const rateRows = fleet ? edges.map((e) => ({ k: `${e.client}|${e.server}|${e.protocol}`, name: "sightline_service_map_requests_total", r: e.requests / seconds }))
    : await api.rows(`SELECT json_extract(m.labels, '$.client') || '|' || json_extract(m.labels, '$.server') || '|' ||
    json_extract(m.labels, '$.protocol') AS k, m.name AS name, (max(s.value) - min(s.value)) / max(1e-9, (max(s.time) - min(s.time)) / 1e9) AS r
    FROM metric_samples s JOIN metric_series m ON m.id = s.series_id
    WHERE m.name IN ('sightline_service_map_requests_total', 'sightline_service_map_errors_total') AND ${api.since("s.time", seconds)}
    GROUP BY m.id HAVING count(*) > 1`);
  if (fleet) root.querySelector(".toolbar .muted")!.textContent = "every node's requests over the range, joined by connection; red: with errors";
  const rates = new Map<string, { rps: number; eps: number }>();
  for (const r of rateRows) {
    const e = rates.get(String(r.k)) ?? { rps: 0, eps: 0 };
    if (r.name === "sightline_service_map_requests_total") e.rps = Number(r.r);
    else e.eps = Number(r.r);
    rates.set(String(r.k), e);
  }
  if (!edges.length) {
    root.append(h("div", { class: "empty" }, "No L7 traffic seen yet (HTTP, PostgreSQL, MySQL, Redis, DNS)."));
    return;
  }
  root.append(section("Clients → servers", h("div", { class: "map" }, serviceMapSvg(edges, rates))));
  const withRates = edges.map((e) => ({ ...e, rps: rates.get(`${e.client}|${e.server}|${e.protocol}`)?.rps ?? NaN }));
  root.append(section("Edges", table([
    { key: "client", title: "Client" }, { key: "server", title: "Server" }, { key: "protocol", title: "Protocol" },
    { key: "rps", title: "Requests/s (range)", num: true, render: (v) => fmtNum(Number(v)) },
    { key: "requests", title: fleet ? "Requests (range)" : "Requests (all)", num: true }, { key: "errors", title: fleet ? "Errors (range)" : "Errors (all)", num: true },
    { key: "mean_latency_seconds", title: "Mean latency", num: true, render: (v) => fmtDur(Number(v)) }],
    withRates as unknown as Record<string, unknown>[])));
};

// ---- Profiles ----
export const profiles: Page = async (root, params) => {
  // On the aggregator: the stored minutes of every node (or one), merged; no live window.
  const fleet = api.fleet();
  const live = fleet ? "store" : params.get("live") ?? "300";
  const node = fleet ? params.get("node") ?? "" : "";
  const comm = params.get("process") ?? "";
  const search = params.get("search") ?? "";
  const diff = params.get("diff") === "1";
  const kind = params.get("kind") === "off" && !fleet ? "off" : "cpu";
  const kindSel = h("select", { "aria-label": "Kind" }, h("option", { value: "cpu", ...(kind === "cpu" ? { selected: true } : {}) }, "on-CPU"),
    h("option", { value: "off", ...(kind === "off" ? { selected: true } : {}) }, "off-CPU (blocked)"));
  kindSel.addEventListener("change", () => setParams({ kind: kindSel.value === "off" ? "off" : null, live: kindSel.value === "off" && live === "store" ? "300" : live }, false));
  const liveSel = h("select", { "aria-label": "Window" }, ...[["60", "last 1 min"], ["300", "last 5 min"], ["600", "last 10 min"], ["store", "stored minutes (range, on-CPU)"]]
    .map(([v, l]) => h("option", { value: v, ...(v === live ? { selected: true } : {}) }, l)));
  liveSel.addEventListener("change", () => setParams({ live: liveSel.value }, false));
  const procIn = h("input", { type: "search", placeholder: "process (all)", value: comm, "aria-label": "Process" });
  procIn.addEventListener("change", () => setParams({ process: procIn.value }, false));
  const searchIn = h("input", { type: "search", placeholder: "search frames", value: search, "aria-label": "Search" });
  const diffBox = h("input", { type: "checkbox", ...(diff ? { checked: true } : {}) });
  diffBox.addEventListener("change", () => setParams({ diff: diffBox.checked ? "1" : null }, false));
  const reset = h("button", {}, "Reset zoom");
  const info = h("span", { class: "muted", id: "flame-info" });
  const nodeSel = fleet ? await nodeSelect(params, "profiles") : null;
  root.append(h("div", { class: "toolbar" }, h("h1", {}, kind === "off" ? "Off-CPU profile" : "CPU profile"), ...(fleet ? [nodeSel] : [kindSel, liveSel]), procIn, searchIn,
    h("label", { class: "check" }, diffBox, live === "store" ? " diff vs the range before" : " diff vs a window twice as long"), reset, live === "store" ? rangePicker(params) : null));
  let text: string, base = "";
  if (live === "store" && kind === "cpu") {
    const seconds = rangeSeconds(params);
    const q = (from: number, to: number) => api.rows(`SELECT stack, sum(samples) AS n FROM profiles WHERE ${api.since("time", from)}
      AND NOT ${api.since("time", to)}${node ? ` AND node = ${api.lit(node)}` : ""} GROUP BY stack`, 100000).then((r) => r.map((x) => `${x.stack} ${x.n}`).join("\n"));
    text = await q(seconds, 0);
    if (diff) base = await q(2 * seconds, seconds);
  } else {
    const s = live === "store" ? 300 : Number(live);
    text = await api.profileFolded(s, kind);
    // Diff: this window's shares against those of the window twice as long.
    if (diff) base = await api.profileFolded(Math.min(600, 2 * s), kind);
  }
  const keep = (t: string) => (comm ? t.split("\n").filter((l) => l.startsWith(comm + ";")).join("\n") : t);
  const rootFrame = parseFolded(keep(text));
  if (diff && base) mergeBase(rootFrame, parseFolded(keep(base)));
  const box = h("div", { class: "flame", id: "flame" });
  const what = kind === "off" ? "waits off the CPU" : "spends CPU";
  const where = fleet ? (node ? `node ${node}` : "every node") : "the node";
  root.append(section(comm ? `Where ${comm} ${what}${fleet ? ` (${where})` : ""}` : `Where ${where} ${what}`, info, box));
  if (!rootFrame.value) {
    box.replaceWith(h("div", { class: "empty" }, kind === "off" ? "No off-CPU time in this window (sources.profile.off_cpu: true turns it on)."
      : "No samples in this window (is the profile source running?)."));
    return;
  }
  const fg = new FlameGraph(box, rootFrame, (s) => (info.textContent = s), kind === "off" ? "ns" : "samples");
  if (search) fg.setSearch(search);
  fg.setDiff(diff);
  searchIn.addEventListener("input", () => { fg.setSearch(searchIn.value); setParams({ search: searchIn.value }); });
  reset.addEventListener("click", () => fg.reset());
};

// ---- Security ----
export const security: Page = async (root, params) => {
  const seconds = rangeSeconds(params, "24h");
  const prio = params.get("priority") ?? "";
  const sel = h("select", { "aria-label": "priority" }, ...["", "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"]
    .map((o) => h("option", { value: o, ...(o === prio ? { selected: true } : {}) }, o || "any priority")));
  sel.addEventListener("change", () => setParams({ priority: sel.value }, false));
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Security alerts"), sel, rangePicker(params, "24h")));
  const where = [api.since("time", seconds)];
  if (prio) where.push(`priority = ${api.lit(prio)}`);
  const fleet = api.fleet();
  const list = await api.rows(`SELECT ${fleet ? "node" : "rowid AS id"}, ${api.idiv("time", 1000000)} AS ms, rule, priority, output, ancestry, proc_name, proc_pid,
    container_id, event FROM alerts WHERE ${where.join(" AND ")} ORDER BY time DESC LIMIT 500`);
  const counts = await api.rows(`SELECT rule, priority, count(*) AS n FROM alerts WHERE ${where.join(" AND ")} GROUP BY rule, priority ORDER BY n DESC`);
  root.append(h("div", { class: "cards" }, ...counts.slice(0, 6).map((c) => card(String(c.rule), String(c.n), { sub: String(c.priority), tone: "warn" }))));
  const feed = h("div", { class: "feed" });
  for (const a of list) {
    const anc = (() => { try { return (JSON.parse(String(a.ancestry)) as string[]); } catch { return []; } })();
    const raw = h("pre", { class: "raw", hidden: true }, (() => { try { return JSON.stringify(JSON.parse(String(a.event)), null, 2); } catch { return String(a.event); } })());
    const item = h("article", { class: `alert p-${String(a.priority).toLowerCase()}` },
      h("header", {}, h("span", { class: "badge" }, String(a.priority)), h("b", {}, String(a.rule)), h("span", { class: "muted" }, fmtTime(Number(a.ms))),
        fleet ? h("span", { class: "muted", "data-node": String(a.node) }, `on ${a.node}`) : null),
      h("div", { class: "output" }, String(a.output)),
      h("div", { class: "ancestry" }, "ancestry: ", [String(a.proc_name), ...anc].join(" ← ")),
      h("button", { class: "link", onclick: () => (raw.hidden = !raw.hidden) }, "raw event"), raw);
    feed.append(item);
  }
  root.append(section(`Alerts (${list.length})`, list.length ? feed : h("div", { class: "empty" }, "No alert in this range. Good.")));
};

// ---- Live events ----
export const live: Page = async (root, params) => {
  const filter = params.get("filter") ?? "evt.type in (exec, tcp, request)";
  const input = h("input", { type: "search", value: filter, class: "wide", "aria-label": "Filter (rule condition)",
                             placeholder: "evt.type = exec and proc.name = curl" });
  const status = h("span", { class: "muted" }, "connecting…");
  const pause = h("button", {}, "Pause");
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Live events"), input, pause, status));
  const body = h("tbody");
  root.append(section("Newest first (at most 500 kept)", h("div", { class: "table-wrap" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, ...["Time", "Type", "Process", "PID", "What"].map((t) => h("th", {}, t)))), body))));
  let paused = false, n = 0, missed = 0;
  pause.addEventListener("click", () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; });
  input.addEventListener("change", () => setParams({ filter: input.value }, false));
  const what = (e: Record<string, unknown>) => {
    const t = e["evt.type"];
    if (t === "exec") return ((e["proc.args"] as string[]) ?? []).join(" ");
    if (t === "tcp") return `${e["net.role"]} ${e["fd.rip"]}:${e["fd.rport"]} ${e["evt.errno"] ?? ""}`;
    if (t === "request") return `${e["l7.protocol"]} ${e["l7.method"]} ${e["l7.target"]} → ${e["dns.rcode"] || e["l7.status"]} (${fmtDur(Number(e["l7.latency"]) / 1e9)})`;
    if (t === "open") return String(e["fd.name"]);
    if (t === "syscall") return `${e["evt.syscall"] ?? ""} ${e["fd.name"] ?? ""}`;
    return "";
  };
  const es = api.liveEvents(filter, (e) => {
    n++;
    status.textContent = `${n} events${missed ? `, ${missed} missed (reading too slowly)` : ""}`;
    if (paused) return;
    body.prepend(h("tr", {}, h("td", {}, String(e["evt.time"]).slice(11, 23)), h("td", {}, String(e["evt.type"])),
      h("td", {}, String(e["proc.name"])), h("td", { class: "num" }, String(e["proc.pid"])), h("td", {}, what(e))));
    while (body.children.length > 500) body.lastElementChild?.remove();
  }, (m) => { missed = m; }, (msg) => { status.textContent = msg; });
  es.onopen = () => (status.textContent = "live");
  return () => es.close();
};

// ---- Query ----
export const query: Page = async (root, params) => {
  const dflt = "SELECT proc_name, count(*) AS execs FROM exec GROUP BY 1 ORDER BY 2 DESC LIMIT 20";
  const text = h("textarea", { class: "sql", spellcheck: false, "aria-label": "SQL" }, params.get("sql") ?? dflt);
  const run = h("button", { class: "primary" }, "Run (Ctrl+Enter)");
  const out = h("div", { class: "result" });
  const side = h("aside", { class: "schema" });
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Query"), h("span", { class: "muted" }, "read-only SQL on the agent's store")),
    h("div", { class: "query" }, h("div", {}, text, h("div", { class: "toolbar" }, run), out), side));
  const exec = async () => {
    setParams({ sql: text.value });
    out.innerHTML = "";
    try {
      const r = await api.sql(text.value, 2000);
      out.append(h("div", { class: "muted small" }, `${r.rows.length} rows${r.truncated ? " (truncated)" : ""} in ${(r.seconds * 1000).toFixed(1)} ms`),
        table(r.columns.map((c) => ({ key: c, title: c })), r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])))));
    } catch (e) {
      out.append(errorBox(e));
    }
  };
  run.addEventListener("click", exec);
  text.addEventListener("keydown", (e) => { if ((e as KeyboardEvent).key === "Enter" && ((e as KeyboardEvent).ctrlKey || (e as KeyboardEvent).metaKey)) exec(); });
  const s = await api.schema();
  for (const t of s.tables)
    side.append(h("details", {}, h("summary", {}, t.name), h("div", { class: "muted small" }, t.doc),
      h("ul", {}, ...t.columns.map((c) => h("li", { title: c.doc }, h("code", {}, c.name), " ", h("span", { class: "muted" }, c.type))))));
  if (params.get("sql")) await exec();
};

export const PAGES: Record<string, [string, Page]> = {
  overview: ["Overview", overview], processes: ["Processes", processes], requests: ["Requests", requests],
  servicemap: ["Service map", servicemap], profiles: ["Profiles", profiles], anomalies: ["Anomalies", anomalies], security: ["Security", security],
  live: ["Live events", live], query: ["Query", query],
};
export { route };
