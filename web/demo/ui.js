// Small DOM helpers shared by the demo's modules. Everything a user or the
// server sends goes into the page through textContent (h() and text()),
// never innerHTML; only the fixed icons below are markup.

export const $ = (id) => document.getElementById(id);

/** An element: `h("span", { class: "x", title: t }, "text", child…)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

// Fixed SVG icons (24x24, stroke currentColor): static markup, no user data.
const PATHS = {
  mic: '<path d="M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3"/>',
  micOff: '<path d="M15 10V6a3 3 0 0 0-5.7-1.3M9 9v3a3 3 0 0 0 4.9 2.3M5 11a7 7 0 0 0 11.4 5.4M19 11a7 7 0 0 1-.6 2.8M12 18v3M3 3l18 18"/>',
  cam: '<rect x="3" y="6" width="13" height="12" rx="2"/><path d="M16 10l5-3v10l-5-3z"/>',
  camOff: '<path d="M16 16v1a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h1M10 6h4a2 2 0 0 1 2 2v3l5-3v9M3 3l18 18"/>',
  screen: '<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/>',
  leave: '<g transform="rotate(135 12 12)"><path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z"/></g>',
  phone: '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z"/>',
  copy: '<rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1"/>',
  check: '<path d="M5 12l5 5L20 7"/>',
};

/** An inline icon element. */
export function icon(name) {
  const span = document.createElement("span");
  span.className = "icon";
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${PATHS[name]}</svg>`;
  return span;
}

/** Sets a button's content to an icon and a label (the label hides on narrow screens). */
export function iconButton(button, name, label) {
  button.replaceChildren(icon(name), h("span", { class: "label" }, label));
  button.title = label;
  button.setAttribute("aria-label", label);
}

/** Copies `value` to the clipboard (navigator.clipboard; a hidden textarea where that is refused). */
export async function copy(value) {
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    const area = h("textarea", { class: "offscreen" });
    area.value = value;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

/**
 * A long value (token, key, URL) on one line that fits its box (ellipsis in
 * the middle of the layout, full value in the tooltip) and copies with a click.
 */
export function copyField(label, value, { secret = false } = {}) {
  const shown = secret ? `${value.slice(0, 12)}…${value.slice(-6)}` : value;
  const button = h("button", { type: "button", class: "copy", title: `Copy ${label.toLowerCase()}`, "aria-label": `Copy ${label.toLowerCase()}` }, icon("copy"));
  button.addEventListener("click", async () => {
    await copy(value);
    button.replaceChildren(icon("check"));
    button.classList.add("done");
    setTimeout(() => { button.replaceChildren(icon("copy")); button.classList.remove("done"); }, 1500);
  });
  return h("div", { class: "copyfield", dataset: { value: secret ? "" : value } },
    h("span", { class: "k" }, label),
    h("code", { class: "v", title: secret ? "hidden; copy to use" : value }, shown),
    button);
}

/** A short notice in the corner; gone after a few seconds. */
export function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  $("toasts").append(el);
  setTimeout(() => el.classList.add("out"), 4500);
  setTimeout(() => el.remove(), 5000);
}

/** The message of an error (OnAirError: its code and message). */
export function why(e) {
  if (e && e.code && e.message) return `${e.code}: ${e.message}`;
  return String((e && e.message) || e);
}

/** First letter of a name, for avatars. */
export const initial = (name) => (name || "?").trim().charAt(0).toUpperCase() || "?";

/** A stable hue per name, so avatars tell people apart. */
export function hue(name) {
  let n = 0;
  for (const c of name || "") n = (n * 31 + c.charCodeAt(0)) % 360;
  return n;
}
