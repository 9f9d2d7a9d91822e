/* gridbot admin: dashboard charts (ECharts, served locally), heat-table colours, live training progress,
 * and the pages' small behaviours (confirm, auto-submit, print) wired from data attributes: the
 * Content-Security-Policy allows no inline script or event handler attribute. */
(function () {
  "use strict";

  function heat() {
    document.querySelectorAll("td.heatcell").forEach(function (cell) {
      var rate = parseFloat(cell.dataset.rate);
      if (isNaN(rate)) return;
      var hue = Math.round(rate * 120); // 0 red … 120 green
      cell.style.background = "hsl(" + hue + ", 70%, 85%)";
    });
  }

  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return null;
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
    el.dataset.drawn = "true";
    return c;
  }

  function dashboard() {
    var data = document.getElementById("figures");
    if (!data) return;
    var f = JSON.parse(data.textContent);
    var since = f.period.start;
    var rows = f.standing.by_tier;
    var tiers = rows.map(function (r) { return r.tier; });
    var tierChart = chart("chart-tiers", {
      tooltip: {}, legend: { top: 0, data: ["在办", "超时"] }, grid: { left: 40, right: 10, top: 30, bottom: 30 },
      xAxis: { type: "category", data: tiers.map(function (t) { return f.tier_names[t]; }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "在办", type: "bar", data: rows.map(function (r) { return r.open; }) },
        { name: "超时", type: "bar", color: "#d9534f", data: rows.map(function (r) { return r.overdue; }) }
      ]
    });
    if (tierChart) tierChart.on("click", function (p) {
      var state = p.seriesName === "超时" ? "overdue" : "open";
      location.href = "/admin/tickets?state=" + state + "&tier=" + tiers[p.dataIndex];
    });
    var trendChart = chart("chart-trend", {
      tooltip: { trigger: "axis" }, legend: { top: 0, data: ["受理", "办结"] }, grid: { left: 40, right: 10, top: 30, bottom: 30 },
      xAxis: { type: "category", data: f.trend.days.map(function (d) { return d.slice(5); }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ name: "受理", type: "line", data: f.trend.created }, { name: "办结", type: "line", data: f.trend.closed }]
    });
    if (trendChart) trendChart.on("click", function (p) {
      location.href = "/admin/tickets?day=" + f.trend.days[p.dataIndex] + (p.seriesName === "办结" ? "&state=done" : "");
    });
    var typeChart = chart("chart-types", {
      tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: ["35%", "65%"], data: f.by_type.map(function (t) { return { name: t.name, value: t.count, type: t.type }; }) }]
    });
    if (typeChart) typeChart.on("click", function (p) {
      location.href = "/admin/tickets?type=" + encodeURIComponent(p.data.type) + "&since=" + since;
    });
  }

  function training() {
    var box = document.getElementById("training");
    if (!box) return;
    var running = ["idle", "active", "rejected", "failed"];
    function show(job) {
      document.getElementById("train-phase").textContent = job.phase;
      document.getElementById("train-detail").textContent = job.detail || "";
      document.getElementById("train-log").textContent = (job.log || []).join("\n");
      document.getElementById("active-version").textContent = job.active || "无";
      var verdict = document.getElementById("train-verdict");
      verdict.textContent = job.verdict ? (typeof job.verdict === "string" ? job.verdict : JSON.stringify(job.verdict)) : "";
      box.dataset.phase = job.phase;
    }
    function poll() {
      fetch("/admin/api/train", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) {
          if (!job) return;
          show(job);
          if (running.indexOf(job.phase) < 0) setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    poll();
  }

  function behaviours() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("form[data-intent-path]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.action = form.dataset.intentPath + encodeURIComponent(form.elements.intent.value);
      });
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  behaviours();
  heat();
  dashboard();
  training();
})();
