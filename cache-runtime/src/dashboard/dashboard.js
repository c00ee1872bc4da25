// The live dashboard: polls data.json every 2 s and redraws four uPlot charts (one series
// per cache or timer) and three tables. Everything is fetched from this page's own origin.
"use strict";
(function () {
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#ad494a", "#637939", "#843c39"];
  // `range`: the x range of every chart, the last hour up to the minute in progress.
  const state = { charts: {}, polls: 0, last: null, errors: 0, range: [0, 1] };
  window.dashboard = state;

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function fill(id, rows) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) tr.appendChild(typeof c === "string" ? text("td", c) : c);
      return tr;
    }));
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "-" : Number(v).toFixed(digits);
  }

  // [xs, ys...] over the union of the series' bucket starts.
  function align(list, value) {
    const xs = [...new Set(list.flatMap((s) => s.points.map((p) => p.at)))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    for (const s of list) {
      const ys = new Array(xs.length).fill(null);
      for (const p of s.points) ys[index.get(p.at)] = value(p);
      data.push(ys);
    }
    return data;
  }

  function chart(key, names, data, unit) {
    const el = document.getElementById("chart-" + key);
    const old = state.charts[key];
    const same = old && old.series.length === names.length + 1 &&
      names.every((n, i) => old.series[i + 1].label === n);
    if (same) {
      old.setData(data);
      return;
    }
    if (old) old.destroy();
    const width = Math.max(320, el.clientWidth || 600);
    state.charts[key] = new uPlot({
      width, height: 210,
      scales: { x: { time: true, range: () => state.range } },
      legend: { live: false },
      series: [{}].concat(names.map((label, i) => ({
        label, stroke: PALETTE[i % PALETTE.length], width: 2,
        points: { show: true, size: 5 }, spanGaps: true,
        value: (u, v) => v === null ? "-" : v.toFixed(2) + unit,
      }))),
      axes: [{}, { size: 50 }],
    }, data, el);
  }

  function render(s) {
    const now = s.at;
    state.range = [now - 3600, now + 30];
    chart("hit", s.caches.map((c) => c.name),
      align(s.caches, (p) => p.hit_ratio === null ? null : p.hit_ratio * 100), "%");
    chart("rate", s.timers.map((t) => t.name),
      align(s.timers, (p) => p.calls / Math.max(1, Math.min(s.bucket_seconds, now - p.at))), "/s");
    chart("p50", s.timers.map((t) => t.name),
      align(s.timers, (p) => p.calls ? p.p50_ms : null), " ms");
    chart("p95", s.timers.map((t) => t.name),
      align(s.timers, (p) => p.calls ? p.p95_ms : null), " ms");

    document.getElementById("rps").textContent = fmt(s.calls_per_second, 1);
    document.getElementById("regressed").textContent =
      s.trends.timers.filter((t) => t.direction === "regressed").length;
    document.getElementById("updated").textContent = new Date(now * 1000).toLocaleTimeString();

    fill("bottlenecks", s.bottlenecks.map((b) => [
      b.name, fmt(b.share * 100, 1) + "%", String(b.calls), fmt(b.p95_ms, 2),
      b.slow_ms === null ? "-" : b.slow_calls + " over " + b.slow_ms + " ms",
      b.cache ? b.cache.name + " (" + (b.cache.hit_ratio === null ? "-" : fmt(b.cache.hit_ratio * 100, 1) + "%") + ")" : "-",
      b.advice,
    ]));
    fill("timer-trends", s.trends.timers.map((t) => [
      t.name, text("td", t.direction, t.direction), fmt(t.p95_ratio, 2),
      fmt(t.calls_per_second, 2), t.why,
    ]));
    fill("cache-trends", s.trends.caches.map((c) => [
      c.name, text("td", c.direction, c.direction),
      c.hit_ratio_change === null ? "-" : fmt(c.hit_ratio_change * 100, 1) + " pts", c.why,
    ]));
  }

  async function poll() {
    try {
      const response = await fetch("data.json", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const snapshot = await response.json();
      render(snapshot);
      state.last = snapshot;
      state.polls += 1;
    } catch (e) {
      state.errors += 1;
      document.getElementById("updated").textContent = "offline (" + e.message + ")";
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
