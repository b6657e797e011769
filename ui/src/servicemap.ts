// The service map as an SVG: clients on the left, servers right of what calls them (layers by
// longest call chain), edges labelled with rate, errors and mean latency.
import type { Edge } from "./api";
import { fmtDur, fmtNum } from "./ui";

const NS = "http://www.w3.org/2000/svg";
function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// `rates`: requests/s and errors/s per "client|server|protocol" over the chosen range, when the
// store has samples of it; the labels then show rates instead of totals.
export function serviceMapSvg(edges: Edge[], rates?: Map<string, { rps: number; eps: number }>): SVGSVGElement {
  const nodes = new Set<string>();
  for (const e of edges) { nodes.add(e.client); nodes.add(e.server); }
  const layer = new Map<string, number>([...nodes].map((n) => [n, 0]));
  for (let i = 0; i < nodes.size; i++)
    for (const e of edges)
      if (e.client !== e.server) layer.set(e.server, Math.max(layer.get(e.server)!, Math.min(layer.get(e.client)! + 1, nodes.size)));
  const cols = new Map<number, string[]>();
  for (const n of [...nodes].sort()) {
    const l = layer.get(n)!;
    cols.set(l, [...(cols.get(l) ?? []), n]);
  }
  const colW = 420, rowH = 70, nodeW = 160, nodeH = 40;
  const pos = new Map<string, { x: number; y: number }>();
  let maxRows = 1;
  for (const [l, ns] of cols) {
    maxRows = Math.max(maxRows, ns.length);
    ns.forEach((n, i) => pos.set(n, { x: 20 + l * colW, y: 20 + i * rowH }));
  }
  const width = 40 + Math.max(1, cols.size) * colW, height = 40 + maxRows * rowH;
  // Natural size (text stays legible), shrunk to fit a narrow window.
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "servicemap", style: "max-width: 100%; height: auto" });
  const defs = s("defs", {});
  const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#64748b" }));
  defs.append(marker);
  svg.append(defs);
  const labels = s("g", {});
  const perServer = new Map<string, number>();
  for (const e of edges) {
    const a = pos.get(e.client)!, b = pos.get(e.server)!;
    const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2;
    const err = e.errors > 0;
    const g = s("g", { class: "edge", "data-client": e.client, "data-server": e.server });
    const mx = (x1 + x2) / 2;
    g.append(s("path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, fill: "none",
                         stroke: err ? "#f87171" : "#64748b", "stroke-width": Math.min(6, 1 + Math.log10(1 + e.requests)), "marker-end": "url(#arrow)" }));
    const r = rates?.get(`${e.client}|${e.server}|${e.protocol}`);
    const label = r ? `${e.client}: ${e.protocol} · ${fmtNum(r.rps)}/s` + (r.eps > 0 ? ` · ${fmtNum((100 * r.eps) / Math.max(r.rps, 1e-9))}% err` : "") +
      ` · ${fmtDur(e.mean_latency_seconds)}`
      : `${e.client}: ${e.protocol} · ${fmtNum(e.requests)} req` + (err ? ` · ${fmtNum((100 * e.errors) / e.requests)}% err` : "") +
      ` · ${fmtDur(e.mean_latency_seconds)}`;
    // Labels near the server, stacked when several edges reach it, on a backing for contrast.
    const k = perServer.get(e.server) ?? 0;
    perServer.set(e.server, k + 1);
    const lx = x2 - 8, ly = y2 - 10 - k * 16;
    const t = s("text", { x: lx, y: ly, "text-anchor": "end", class: "edge-label" }, label);
    const bg = s("rect", { x: lx - label.length * 6.1 - 4, y: ly - 11, width: label.length * 6.1 + 8, height: 15, rx: 3, class: "edge-label-bg" });
    labels.append(bg, t);
    g.setAttribute("data-label", label);
    svg.append(g);
  }
  for (const [n, p] of pos) {
    const g = s("g", { class: "node", "data-name": n });
    g.append(s("rect", { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 8 }));
    g.append(s("text", { x: p.x + nodeW / 2, y: p.y + nodeH / 2 + 5, "text-anchor": "middle" }, n.length > 20 ? n.slice(0, 19) + "…" : n));
    svg.append(g);
  }
  svg.append(labels);  // over the nodes: a long label may reach into the client column
  return svg;
}
