// Tiny interactive SVG charts for the offline HTML reports (pycontrol/reports/html.py inlines
// this file: no network, no dependency). Time-series line/step/marker charts with drag-to-zoom
// (double-click resets), a hover crosshair with every series' value, and bar charts.
// Each chart records what it drew in data-* attributes (points, domain) for the browser test.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const M = { l: 64, r: 12, t: 8, b: 26 };

  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmtTime(ms, span) {
    const d = new Date(ms);
    const iso = d.toISOString();
    if (span > 3 * 86400e3) return iso.slice(0, 10);
    if (span > 86400e3) return iso.slice(5, 16).replace("T", " ");
    return iso.slice(11, 19);
  }

  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const step0 = (hi - lo) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  function lowerBound(xs, x) {
    let lo = 0, hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // Min/max per pixel column inside [x0, x1]: what a line of N points looks like at this width.
  function decimate(xs, ys, x0, x1, cols) {
    const i0 = Math.max(0, lowerBound(xs, x0) - 1);
    const i1 = Math.min(xs.length, lowerBound(xs, x1) + 1);
    if (i1 - i0 <= cols * 2) return [xs.slice(i0, i1), ys.slice(i0, i1)];
    const ox = [], oy = [];
    const w = (x1 - x0) / cols;
    let i = i0;
    for (let c = 0; c < cols && i < i1; c++) {
      const end = x0 + (c + 1) * w;
      let mn = i, mx = i;
      const start = i;
      while (i < i1 && (xs[i] <= end || c === cols - 1)) {
        if (ys[i] < ys[mn]) mn = i;
        if (ys[i] > ys[mx]) mx = i;
        i++;
      }
      if (i === start) { i++; continue; }
      for (const k of mn < mx ? [mn, mx] : [mx, mn]) { ox.push(xs[k]); oy.push(ys[k]); }
    }
    return [ox, oy];
  }

  function TimeChart(host, spec) {
    this.host = host;
    this.spec = spec;
    const all = spec.series.concat(spec.markers || []);
    let x0 = Infinity, x1 = -Infinity;
    for (const s of all) if (s.x.length) { x0 = Math.min(x0, s.x[0]); x1 = Math.max(x1, s.x[s.x.length - 1]); }
    if (!(x1 > x0)) { x0 = (isFinite(x0) ? x0 : 0) - 1000; x1 = x0 + 2000; }
    this.full = [x0, x1];
    this.domain = [x0, x1];
    this.width = Math.max(320, host.clientWidth || 900);
    this.height = spec.height || 220;
    this.draw();
  }

  TimeChart.prototype.draw = function () {
    const spec = this.spec, W = this.width, H = this.height;
    this.host.innerHTML = "";
    const svg = el("svg", { width: W, height: H, class: "chart", role: "img" }, this.host);
    const [x0, x1] = this.domain;
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const sx = (x) => M.l + ((x - x0) / (x1 - x0)) * pw;
    // y range over what is visible
    let y0 = Infinity, y1 = -Infinity;
    const drawn = [];
    for (const s of spec.series) {
      const [dx, dy] = decimate(s.x, s.y, x0, x1, pw);
      drawn.push([s, dx, dy]);
      for (const v of dy) if (v !== null && isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
    }
    for (const s of spec.markers || []) {
      for (let i = 0; i < s.x.length; i++) if (s.x[i] >= x0 && s.x[i] <= x1) { y0 = Math.min(y0, s.y[i]); y1 = Math.max(y1, s.y[i]); }
    }
    if (spec.zero) { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
    if (!isFinite(y0)) { y0 = 0; y1 = 1; }
    if (y1 === y0) { y0 -= 1; y1 += 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const sy = (y) => M.t + ph - ((y - y0) / (y1 - y0)) * ph;
    const yfmt = spec.yfmt || ((v) => v.toLocaleString("en-US", { maximumFractionDigits: 2 }));
    // axes and grid
    for (const t of niceTicks(y0, y1, 5)) {
      el("line", { x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), class: "grid" }, svg);
      el("text", { x: M.l - 4, y: sy(t) + 4, "text-anchor": "end", class: "tick" }, svg).textContent = yfmt(t);
    }
    const span = x1 - x0;
    const xf = spec.xnum ? (v) => String(+v.toFixed(3)) : (v) => fmtTime(v, span);
    let xticks = niceTicks(x0, x1, Math.max(2, Math.floor(pw / 110)));
    if (spec.xint) xticks = xticks.filter((t) => Math.abs(t - Math.round(t)) < 1e-9);
    for (const t of xticks) {
      el("text", { x: sx(t), y: H - 8, "text-anchor": "middle", class: "tick" }, svg).textContent = xf(t);
    }
    if (spec.xlabel) el("text", { x: W - M.r, y: M.t + 12, "text-anchor": "end", class: "tick" }, svg).textContent = "x: " + spec.xlabel;
    const clipId = "c" + Math.random().toString(36).slice(2);
    const clip = el("clipPath", { id: clipId }, el("defs", {}, svg));
    el("rect", { x: M.l, y: M.t, width: pw, height: ph }, clip);
    const g = el("g", { "clip-path": `url(#${clipId})` }, svg);
    let points = 0;
    for (const [s, dx, dy] of drawn) {
      let d = "";
      for (let i = 0; i < dx.length; i++) {
        if (dy[i] === null || !isFinite(dy[i])) continue;
        const X = sx(dx[i]).toFixed(1), Y = sy(dy[i]).toFixed(1);
        if (s.step && d) d += `H${X}V${Y}`; else d += (d ? "L" : "M") + X + "," + Y;
        points++;
      }
      if (s.fill && d) {
        const base = sy(Math.max(y0, Math.min(y1, 0))).toFixed(1);
        el("path", { d: `${d}V${base}H${sx(dx[0]).toFixed(1)}Z`, fill: s.color, opacity: 0.25, class: "area" }, g);
      }
      const line = { d: d || "M0,0", stroke: s.color, fill: "none", "stroke-width": s.width || 1.5, class: "series", "data-name": s.name };
      if (s.dash) line["stroke-dasharray"] = "5,3";
      el("path", line, g);
      if (s.dots) {
        for (let i = 0; i < dx.length; i++) {
          if (dy[i] === null || !isFinite(dy[i])) continue;
          el("circle", { cx: sx(dx[i]), cy: sy(dy[i]), r: 3, fill: s.color, class: "dot" }, g);
        }
      }
    }
    for (const s of spec.markers || []) {
      for (let i = 0; i < s.x.length; i++) {
        if (s.x[i] < x0 || s.x[i] > x1) continue;
        const X = sx(s.x[i]), Y = sy(s.y[i]);
        const up = s.shape === "up", down = s.shape === "down";
        const d = up ? `M${X},${Y - 6}L${X - 5},${Y + 4}L${X + 5},${Y + 4}Z`
          : down ? `M${X},${Y + 6}L${X - 5},${Y - 4}L${X + 5},${Y - 4}Z`
            : `M${X - 4},${Y - 4}L${X + 4},${Y + 4}M${X - 4},${Y + 4}L${X + 4},${Y - 4}`;
        el("path", { d, fill: s.color, stroke: s.color, class: "marker" }, g);
        points++;
      }
    }
    // legend
    let lx = M.l + 6;
    for (const s of spec.series.concat(spec.markers || [])) {
      el("rect", { x: lx, y: M.t + 4, width: 10, height: 10, fill: s.color }, svg);
      const t = el("text", { x: lx + 14, y: M.t + 13, class: "legend" }, svg);
      t.textContent = s.name;
      lx += 24 + 7 * s.name.length;
    }
    this.host.dataset.points = String(points);
    this.host.dataset.domain = `${x0},${x1}`;
    this.interact(svg, sx, sy, pw, ph, yfmt);
  };

  TimeChart.prototype.interact = function (svg, sx, sy, pw, ph, yfmt) {
    const self = this, [x0, x1] = this.domain;
    const inv = (px) => x0 + ((px - M.l) / pw) * (x1 - x0);
    const cross = el("line", { y1: M.t, y2: M.t + ph, class: "cross", visibility: "hidden" }, svg);
    const sel = el("rect", { y: M.t, height: ph, class: "sel", visibility: "hidden" }, svg);
    const tip = document.createElement("div");
    tip.className = "tip";
    this.host.appendChild(tip);
    let dragFrom = null;
    const px = (ev) => ev.clientX - svg.getBoundingClientRect().left;
    svg.addEventListener("mousedown", (ev) => { dragFrom = px(ev); });
    svg.addEventListener("mousemove", (ev) => {
      const p = Math.max(M.l, Math.min(M.l + pw, px(ev)));
      cross.setAttribute("x1", p); cross.setAttribute("x2", p);
      cross.setAttribute("visibility", "visible");
      if (dragFrom !== null) {
        sel.setAttribute("x", Math.min(dragFrom, p));
        sel.setAttribute("width", Math.abs(p - dragFrom));
        sel.setAttribute("visibility", "visible");
      }
      const x = inv(p);
      const lines = [self.spec.xnum ? (self.spec.xlabel || "x") + " " + (+x.toFixed(3))
        : fmtTime(x, 0) + " UTC" + (x1 - x0 > 86400e3 ? " " + new Date(x).toISOString().slice(0, 10) : "")];
      for (const s of self.spec.series) {
        let i = Math.min(s.x.length - 1, Math.max(0, lowerBound(s.x, x) - (s.step ? 1 : 0)));
        if (!s.step && i > 0 && Math.abs(s.x[i - 1] - x) < Math.abs(s.x[i] - x)) i--;
        if (s.x.length && s.y[i] !== null) lines.push(`${s.name}: ${yfmt(s.y[i])}`);
      }
      tip.textContent = lines.join("\n");
      tip.style.left = (p + 12) + "px";
      tip.style.visibility = "visible";
    });
    svg.addEventListener("mouseleave", () => {
      cross.setAttribute("visibility", "hidden"); tip.style.visibility = "hidden";
      sel.setAttribute("visibility", "hidden"); dragFrom = null;
    });
    svg.addEventListener("mouseup", (ev) => {
      const to = px(ev);
      if (dragFrom !== null && Math.abs(to - dragFrom) > 4) {
        const a = inv(Math.min(dragFrom, to)), b = inv(Math.max(dragFrom, to));
        self.domain = [Math.max(self.full[0], a), Math.min(self.full[1], b)];
        dragFrom = null;
        self.draw();
        return;
      }
      dragFrom = null;
      sel.setAttribute("visibility", "hidden");
    });
    svg.addEventListener("dblclick", () => { self.domain = self.full.slice(); self.draw(); });
  };

  // Horizontal bars: {labels:[...], values:[...], color, fmt}
  function bars(host, spec) {
    const n = spec.labels.length, W = Math.max(320, host.clientWidth || 900);
    const row = 20, H = Math.max(40, n * row + 16);
    host.innerHTML = "";
    const svg = el("svg", { width: W, height: H, class: "chart" }, host);
    const left = 220, vmax = Math.max(1, ...spec.values.map(Math.abs));
    const fmt = spec.fmt || ((v) => v.toLocaleString("en-US"));
    spec.labels.forEach((lab, i) => {
      const v = spec.values[i];
      const w = (Math.abs(v) / vmax) * (W - left - 90);
      const r = el("rect", { x: left, y: 8 + i * row, width: Math.max(1, w), height: row - 6, fill: v < 0 ? "#c0392b" : (spec.color || "#e67e22"), class: "bar" }, svg);
      el("title", {}, r).textContent = `${lab}: ${fmt(v)}`;
      el("text", { x: left - 6, y: 8 + i * row + 11, "text-anchor": "end", class: "tick" }, svg).textContent = lab;
      el("text", { x: left + w + 4, y: 8 + i * row + 11, class: "tick" }, svg).textContent = fmt(v);
    });
    host.dataset.points = String(n);
  }

  window.PcCharts = { TimeChart, bars };
})();
