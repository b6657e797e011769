// Time series with uPlot: x in seconds since the epoch, one or more series.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#38bdf8", "#f472b6", "#a3e635", "#fbbf24", "#c084fc", "#fb7185", "#2dd4bf"];

// A stretch of time to mark on a chart (an anomaly): from/to in seconds since the epoch.
export interface Band {
  from: number;
  to: number;
  label: string;
}

// Bands drawn under the series, each a shaded stretch with its label at the top.
function bandsPlugin(bands: Band[]): uPlot.Plugin {
  return {
    hooks: {
      drawAxes: (u: uPlot) => {
        const ctx = u.ctx;
        const { top, height } = u.bbox;
        ctx.save();
        for (const b of bands) {
          const x0 = u.valToPos(b.from, "x", true), x1 = u.valToPos(b.to, "x", true);
          ctx.fillStyle = "#f8717133";
          ctx.fillRect(x0, top, Math.max(2, x1 - x0), height);
          ctx.fillStyle = "#fca5a5";
          ctx.font = `${11 * devicePixelRatio}px sans-serif`;
          ctx.fillText(b.label, x0 + 3, top + 12 * devicePixelRatio);
        }
        ctx.restore();
      },
    },
  };
}

export function timeChart(el: HTMLElement, xs: number[], series: { label: string; values: (number | null)[] }[],
                          fmt: (v: number) => string, bands: Band[] = []): uPlot {
  const width = Math.max(280, el.clientWidth || 600);
  const opts: uPlot.Options = {
    width, height: 200,
    plugins: bands.length ? [bandsPlugin(bands)] : [],
    cursor: { drag: { x: true, y: false } },
    legend: { show: true },
    scales: { x: { time: true } },
    axes: [
      { stroke: "#94a3b8", grid: { stroke: "#1e293b" }, ticks: { stroke: "#334155" } },
      { stroke: "#94a3b8", grid: { stroke: "#1e293b" }, ticks: { stroke: "#334155" }, size: 64, values: (_u, vals) => vals.map((v) => fmt(v)) },
    ],
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5,
                                            fill: COLORS[i % COLORS.length] + "22", value: (_u: uPlot, v: number | null) => (v == null ? "–" : fmt(v)) }))],
  };
  const u = new uPlot(opts, [xs, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
  new ResizeObserver(() => u.setSize({ width: Math.max(280, el.clientWidth), height: 200 })).observe(el);
  return u;
}
