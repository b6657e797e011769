// The agent's JSON API (/api/v1/...): one function per route. Documented in docs/api.md.
export type Cell = number | string | null;
export interface QueryResult {
  columns: string[];
  rows: Cell[][];
  truncated: boolean;
  seconds: number;
}

export class ApiError extends Error {}

async function get<T>(path: string): Promise<T> {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const text = await r.text();
  if (!r.ok) {
    let msg = text;
    try {
      msg = JSON.parse(text).error ?? text;
    } catch {
      /* plain text */
    }
    throw new ApiError(`${r.status}: ${msg.trim()}`);
  }
  return JSON.parse(text) as T;
}

// Read-only SQL on the agent's store.
export function sql(statement: string, limit = 10000): Promise<QueryResult> {
  return get(`api/v1/query?limit=${limit}&sql=${encodeURIComponent(statement)}`);
}

// Rows as objects keyed by column.
export async function rows(statement: string, limit = 10000): Promise<Record<string, Cell>[]> {
  const r = await sql(statement, limit);
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
}

export interface SchemaTable {
  name: string;
  doc: string;
  columns: { name: string; type: string; doc: string }[];
}
export const schema = () => get<{ backend?: string; tables: SchemaTable[] }>("api/v1/schema");

// The SQL the API answers: an agent's SQLite store, or the aggregator's ClickHouse (every node's
// rows, a node column in each table). init() asks before the first page.
export let backend: "sqlite" | "clickhouse" = "sqlite";
export const fleet = () => backend === "clickhouse";
export async function init(): Promise<void> {
  try {
    if ((await schema()).backend === "clickhouse") backend = "clickhouse";
  } catch {
    /* the store is off: its pages say so */
  }
}

export interface Edge {
  client: string;
  server: string;
  protocol: string;
  requests: number;
  errors: number;
  mean_latency_seconds: number;
  client_node?: string; // the aggregator's: the nodes that saw each end ("" none)
  server_node?: string;
}
// On the aggregator (fleet: true) the edges are every node's, joined by connection over the last
// `seconds` (each end "process (node)"); on an agent, what its l7 source counted since it started.
// The aggregator's nodes (the fleet overview): each node's latest metrics as it sent them.
export interface FleetNode {
  node: string;
  last_seen: number;
  seconds_ago: number;
  series: number;
  events: number;
  events_lost: number;
  agent_rss_bytes: number;
  agent_cpu_seconds: number;
}
// PromQL over the aggregator's Prometheus (aggregator.prometheus): a range query's series.
export interface PromSeries {
  metric: Record<string, string>;
  values: [number, string][];
}
export const promql = (query: string, seconds: number, step: number) =>
  get<{ status: string; data: { result: PromSeries[] } }>(`api/v1/promql?seconds=${seconds}&step=${step}&query=${encodeURIComponent(query)}`)
    .then((r) => r.data.result);
export const nodes = () => get<{ stale_seconds: number; nodes: FleetNode[] }>("api/v1/nodes");

export const serviceMap = (seconds = 900) => get<{ edges: Edge[]; fleet?: boolean; seconds?: number }>(`api/v1/service_map?seconds=${seconds}`);

// The anomaly models (anomaly.enabled): what is off now and what was lately. 404 when off.
export interface Anomaly {
  id: number;
  key: string;
  signal: string;
  unit: string;
  subject: string;
  direction: string;
  since: number; // seconds since the epoch
  until: number; // 0 while it lasts
  value: number;
  expected: number;
  spread: number;
  score: number;
  baseline: string;
  related: string[];
  text: string;
}
export interface Anomalies {
  series: number;
  max_series: number;
  refused_series: number;
  bytes_per_series: number;
  interval_s: number;
  active: Anomaly[];
  ended: Anomaly[];
}
export const anomalies = () => get<Anomalies>("api/v1/anomalies");

// Folded stacks of the continuous profile's last `seconds` (live, from the agent's memory).
export async function profileFolded(seconds: number, kind: "cpu" | "off" = "cpu"): Promise<string> {
  const r = await fetch(`profile?seconds=${seconds}&kind=${kind}`);
  if (!r.ok) throw new ApiError(`${r.status}: ${(await r.text()).trim()}`);
  return r.text();
}

// Live events (server-sent events), filtered with a rule condition.
export function liveEvents(filter: string, onEvent: (e: Record<string, unknown>) => void, onMissed: (n: number) => void,
                           onError: (msg: string) => void): EventSource {
  const es = new EventSource(`api/v1/events?filter=${encodeURIComponent(filter)}`);
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
  es.addEventListener("missed", (m) => onMissed(Number((m as MessageEvent).data)));
  es.onerror = () => onError("the stream was interrupted (bad filter, or the agent stopped)");
  return es;
}

// SQL text literal.
export const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
// "evt_time within the last N seconds", computed by the store's clock.
// What differs between the two dialects, for the pages that run on both.
const ch = () => backend === "clickhouse";
export const idiv = (a: string, b: number | string) => (ch() ? `intDiv(${a}, ${b})` : `(${a}) / ${b}`); // integer division
export const asText = (e: string) => (ch() ? `toString(${e})` : `CAST(${e} AS TEXT)`);
export const log2Int = (e: string, min: number) =>
  ch() ? `toInt64(round(log2(greatest(${e}, ${min}))))` : `CAST(round(log(2, max(${e}, ${min}))) AS INTEGER)`;
export const weight = () => (ch() ? "if(l7_weight > 0, l7_weight, 1)" : "coalesce(l7_weight, 1)");
export const since = (col: string, seconds: number) =>
  `${col} > (${backend === "clickhouse" ? "toInt64(now())" : "CAST(strftime('%s','now') AS INTEGER)"} - ${Math.floor(seconds)}) * 1000000000`;
