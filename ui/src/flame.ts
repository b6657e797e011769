// An interactive flame graph of folded stacks ("a;b;c 12"): click a frame to zoom into it,
// search to highlight, and a diff mode that colors each frame by how its share changed between
// a base profile and this one (red: grew, blue: shrank).
export interface Frame {
  name: string;
  value: number;
  base: number; // samples in the base profile (diff mode)
  children: Map<string, Frame>;
}

export function parseFolded(text: string): Frame {
  const root: Frame = { name: "all", value: 0, base: 0, children: new Map() };
  for (const line of text.split("\n")) {
    const sp = line.lastIndexOf(" ");
    if (sp <= 0) continue;
    const n = Number(line.slice(sp + 1));
    if (!isFinite(n) || n <= 0) continue;
    let node = root;
    node.value += n;
    for (const name of line.slice(0, sp).split(";")) {
      let c = node.children.get(name);
      if (!c) node.children.set(name, (c = { name, value: 0, base: 0, children: new Map() }));
      c.value += n;
      node = c;
    }
  }
  return root;
}

// Adds `base`'s counts into `into` (frames only in the base are added with value 0).
export function mergeBase(into: Frame, base: Frame) {
  into.base += base.value;
  for (const [name, b] of base.children) {
    let c = into.children.get(name);
    if (!c) into.children.set(name, (c = { name, value: 0, base: 0, children: new Map() }));
    mergeBase(c, b);
  }
}

function hash(s: string): number {
  let x = 0;
  for (let i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(x);
}

export class FlameGraph {
  private root: Frame;
  private focus: Frame[] = [];
  private search = "";
  private diff = false;
  // unit "ns": values are off-CPU nanoseconds; otherwise samples.
  constructor(private el: HTMLElement, root: Frame, private onInfo: (s: string) => void, private unit = "samples") {
    this.root = root;
    this.render();
  }
  setSearch(s: string) { this.search = s.toLowerCase(); this.render(); }
  setDiff(d: boolean) { this.diff = d; this.render(); }
  reset() { this.focus = []; this.render(); }

  private color(f: Frame, total: number, baseTotal: number): string {
    if (this.search && f.name.toLowerCase().includes(this.search)) return "#e879f9";
    if (this.diff && baseTotal > 0) {
      const d = f.value / Math.max(total, 1) - f.base / baseTotal;
      const k = Math.min(1, Math.abs(d) * 8);
      return d >= 0 ? `rgb(${200 + 55 * k | 0},${120 - 80 * k | 0},${90 - 60 * k | 0})` : `rgb(${90 - 60 * k | 0},${140 + 40 * k | 0},${200 + 55 * k | 0})`;
    }
    // Kernel frames (name_[k]) in teal, user frames in the usual warm hues.
    if (f.name.endsWith("_[k]")) return `hsl(${175 + (hash(f.name) % 20)}, 55%, ${48 + (hash(f.name) % 10)}%)`;
    return `hsl(${10 + (hash(f.name) % 40)}, 85%, ${55 + (hash(f.name) % 12)}%)`;
  }

  private render() {
    const top = this.focus.length ? this.focus[this.focus.length - 1] : this.root;
    const total = top.value || 1;
    const baseTotal = this.root.base;
    const rowH = 18;
    const rows: { f: Frame; x: number; w: number; depth: number }[] = [];
    const walk = (f: Frame, x: number, depth: number) => {
      const w = f.value / total;
      if (w < 0.002) return;
      rows.push({ f, x, w, depth });
      let cx = x;
      const kids = [...f.children.values()].sort((a, b) => a.name.localeCompare(b.name));
      for (const c of kids) { walk(c, cx, depth + 1); cx += c.value / total; }
    };
    // The focused frame's ancestors stay above it, full width.
    this.focus.slice(0, -1).forEach((f, i) => rows.push({ f, x: 0, w: 1, depth: i }));
    walk(top, 0, Math.max(0, this.focus.length - 1));
    const depth = Math.max(...rows.map((r) => r.depth)) + 1;
    this.el.innerHTML = "";
    this.el.style.height = `${depth * rowH + 4}px`;
    let matched = 0;
    for (const r of rows) {
      const d = document.createElement("div");
      d.className = "frame";
      d.style.left = `${r.x * 100}%`;
      d.style.width = `calc(${r.w * 100}% - 1px)`;
      d.style.top = `${r.depth * rowH}px`;
      d.style.background = this.color(r.f, total, baseTotal);
      d.textContent = r.w > 0.02 ? r.f.name : "";
      d.dataset.name = r.f.name;
      const pct = ((r.f.value / (this.root.value || 1)) * 100).toFixed(2);
      d.title = `${r.f.name}\n${this.amount(r.f.value)}, ${pct}% of all` + (this.diff ? `\nbase: ${this.amount(r.f.base)}` : "");
      if (this.search && r.f.name.toLowerCase().includes(this.search)) matched += r.f.value;
      d.onclick = () => {
        if (r.f === this.root) this.focus = [];
        else {
          const path = this.pathTo(r.f);
          this.focus = path ?? [];
        }
        this.render();
      };
      this.el.append(d);
    }
    const zoom = this.focus.length ? `zoomed into ${top.name} (click "all" or Reset to zoom out)` : this.amount(this.root.value);
    this.onInfo(this.search ? `${zoom} · "${this.search}": ${((matched / total) * 100).toFixed(1)}% of the view` : zoom);
  }

  private amount(v: number): string {
    if (this.unit !== "ns") return `${v} sample${v === 1 ? "" : "s"}`;
    return v >= 1e9 ? `${(v / 1e9).toFixed(2)} s off-CPU` : `${(v / 1e6).toFixed(1)} ms off-CPU`;
  }

  private pathTo(target: Frame): Frame[] | null {
    const path: Frame[] = [];
    const find = (f: Frame): boolean => {
      if (f === target) return true;
      for (const c of f.children.values()) {
        path.push(c);
        if (find(c)) return true;
        path.pop();
      }
      return false;
    };
    return find(this.root) ? path : null;
  }
}
