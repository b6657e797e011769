// Small DOM helpers, formatting and the URL state every page shares.

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Record<string, string | number | boolean | ((e: Event) => void)> = {},
  ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v as EventListener);
    else if (typeof v === "boolean") { if (v) el.setAttribute(k, ""); }
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(c));
  return el;
}

// The view's state lives in the URL: #/page?key=value&...
export function route(): { page: string; params: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, query] = hash.split("?");
  return { page: page || "overview", params: new URLSearchParams(query ?? "") };
}
export function setParams(changes: Record<string, string | null>, replace = true) {
  const { page, params } = route();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === "") params.delete(k);
    else params.set(k, v);
  }
  const q = params.toString();
  const url = `#/${page}${q ? "?" + q : ""}`;
  if (replace) history.replaceState(null, "", url);
  else location.hash = url;
}

export const RANGES: [string, number][] = [["5m", 300], ["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800]];
export function rangeSeconds(params: URLSearchParams, dflt = "1h"): number {
  const r = params.get("range") ?? dflt;
  return RANGES.find(([n]) => n === r)?.[1] ?? 3600;
}

export function fmtNum(v: number, digits = 1): string {
  if (!isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(digits) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(digits) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(digits) + "k";
  if (a >= 100 || v === Math.round(v)) return String(Math.round(v));
  return v.toFixed(a < 1 ? 3 : digits);
}
export function fmtBytes(v: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}
export function fmtDur(seconds: number): string {
  if (!isFinite(seconds)) return "–";
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}
export function fmtTime(ms: number): string {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// A table of rows; `render` may turn a cell into a node. Click handler per row.
// A column: `fit` keeps it as wide as its content (never cut), `grow` gives it what the others
// leave and cuts its text with an ellipsis (the full text in its tooltip).
export function table(columns: { key: string; title: string; num?: boolean; fit?: boolean; grow?: boolean;
                                 render?: (v: unknown, row: Record<string, unknown>) => Node | string }[],
                      data: Record<string, unknown>[], onRow?: (row: Record<string, unknown>) => void): HTMLElement {
  const cls = (c: { num?: boolean; fit?: boolean; grow?: boolean }) =>
    [c.num ? "num" : "", c.fit ? "fit" : "", c.grow ? "grow" : ""].filter(Boolean).join(" ");
  const thead = h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { class: cls(c) }, c.title))));
  const tbody = h("tbody");
  for (const row of data) {
    const tr = h("tr", onRow ? { class: "clickable", onclick: () => onRow(row) } : {});
    for (const c of columns) {
      const v = row[c.key];
      const content = c.render ? c.render(v, row) : v == null ? "" : String(v);
      tr.append(h("td", c.grow && v != null ? { class: cls(c), title: String(v) } : { class: cls(c) }, content));
    }
    tbody.append(tr);
  }
  const t = h("table", { class: "grid" }, thead, tbody);
  if (!data.length) return h("div", { class: "empty" }, "Nothing in this range yet.");
  return h("div", { class: "table-wrap" }, t);
}

export function card(title: string, value: string, opts: { sub?: string; metric?: string; raw?: number; tone?: string } = {}) {
  return h("div", { class: `card ${opts.tone ?? ""}`, "data-metric": opts.metric ?? "", "data-value": opts.raw ?? "" },
    h("div", { class: "card-title" }, title), h("div", { class: "card-value" }, value),
    opts.sub ? h("div", { class: "card-sub" }, opts.sub) : null);
}

export function errorBox(e: unknown): HTMLElement {
  return h("div", { class: "error" }, e instanceof Error ? e.message : String(e));
}

export function section(title: string, ...children: (Node | null)[]) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}
