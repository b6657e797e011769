// The shell: navigation, the page from the URL, re-render on navigation.
import "./style.css";
import * as api from "./api";
import { PAGES } from "./pages";
import { errorBox, h, route } from "./ui";

const app = document.getElementById("app")!;
const nav = h("nav", { class: "nav" });
const main = h("main", { class: "main" });
const menu = h("button", { class: "menu", "aria-label": "Menu", onclick: () => document.body.classList.toggle("nav-open") }, "☰");
app.append(h("header", { class: "top" }, menu, h("a", { class: "brand", href: "#/overview" }, h("span", { class: "dot" }), "Sightline"),
  h("span", { class: "host", id: "host" })), h("div", { class: "body" }, nav, main));
for (const [id, [title]] of Object.entries(PAGES)) nav.append(h("a", { href: `#/${id}`, "data-page": id }, title));

let cleanup: (() => void) | void;
let seq = 0;
let retry: number | undefined;
async function render() {
  clearTimeout(retry);
  const { page, params } = route();
  const entry = PAGES[page] ?? PAGES.overview;
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.getAttribute("data-page") === page);
  document.body.classList.remove("nav-open");
  if (cleanup) cleanup();
  cleanup = undefined;
  const my = ++seq;
  const root = h("div", { class: "page", "data-page": page });
  main.replaceChildren(root);
  document.title = `${entry[0]} · Sightline`;
  try {
    const c = await entry[1](root, params);
    if (my === seq) cleanup = c;
    else if (c) c();
    root.setAttribute("data-ready", "1");
  } catch (e) {
    root.append(errorBox(e));
    root.setAttribute("data-ready", "error");
    // A backend that does not answer (503: the aggregator's ClickHouse down): the page says
    // which, and comes back by itself once it answers.
    if (e instanceof Error && e.message.startsWith("503") && my === seq) {
      root.append(h("div", { class: "muted small" }, "Trying again every 5 s."));
      retry = window.setTimeout(() => { if (my === seq) render(); }, 5000);
    }
  }
}
window.addEventListener("hashchange", render);
api.init().then(render);
fetch("api/v1/query?sql=" + encodeURIComponent("SELECT 1")).then((r) => {
  (document.getElementById("host") as HTMLElement).textContent = r.ok ? location.host : "store unavailable";
});
