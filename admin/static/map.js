/* gridbot admin: the command centre's map (指挥大屏 地图) and a case's nearest workers (就近派单).
 * Boundaries come from /admin/api/map/geo (GeoJSON, cached by ETag) and are registered with
 * echarts.registerMap: no tile server, nothing from outside. The live layer (/admin/api/map) colours each
 * region by its open cases, outlines regions with overdue cases in red, draws case points and staff
 * positions, and lists the hotspots (主动治理). A click on a region drills down; 返回上级 goes back up.
 * Content-Security-Policy: no inline script, so this file wires itself from ids and data attributes. */
(function () {
  "use strict";

  var REFRESH_MS = 60000;

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + url);
      return r.json();
    });
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function mapPanel() {
    var el = document.getElementById("map-chart");
    if (!el || !window.echarts) return;
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    window.addEventListener("resize", function () { chart.resize(); });
    var state = { node: null, data: null, timer: null };
    var up = document.getElementById("map-up");
    var crumbs = document.getElementById("map-path");
    var hot = document.getElementById("map-hotspots");
    var status = document.getElementById("map-status");

    function query(node) { return node ? "?node=" + encodeURIComponent(node) : ""; }

    function load(node) {
      status.textContent = "加载中…";
      return Promise.all([getJson("/admin/api/map/geo" + query(node)), getJson("/admin/api/map" + query(node))])
        .then(function (got) {
          var key = "gridbot-" + (got[1].node ? got[1].node.id : "top");
          window.echarts.registerMap(key, got[0]);
          state.node = got[1].node ? got[1].node.id : null;
          state.key = key;
          draw(got[1]);
          status.textContent = "";
        })
        .catch(function (err) { status.textContent = "地图加载失败：" + err.message; });
    }

    function refresh() {
      if (!state.key) return;
      getJson("/admin/api/map" + query(state.node)).then(draw).catch(function () {});
    }

    function draw(d) {
      state.data = d;
      var labels = {}, byId = {};
      d.regions.forEach(function (r) { labels[r.id] = r.name; byId[r.id] = r; });
      var max = Math.max(1, Math.max.apply(null, d.regions.map(function (r) { return r.open; }).concat([0])));
      chart.setOption({
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (p.seriesName === "在办工单" && byId[p.name]) {
              var r = byId[p.name];
              return r.name + "<br>在办 " + r.open + " 件，超时 " + r.overdue + " 件" + (r.drill ? "<br>点击下钻" : "");
            }
            return p.data && p.data.tip ? p.data.tip : p.name;
          }
        },
        visualMap: {
          min: 0, max: max, left: 10, bottom: 10, text: ["多", "少"], seriesIndex: 0, calculable: true,
          inRange: { color: ["#e8f5e9", "#fdd835", "#e53935"] }
        },
        geo: {
          map: state.key, roam: true, nameProperty: "name",
          label: { show: true, formatter: function (p) { return labels[p.name] || p.name; }, fontSize: 13,
                   color: "#222", textBorderColor: "#fff", textBorderWidth: 3 },
          itemStyle: { borderColor: "#555", borderWidth: 1 },
          emphasis: { label: { show: true } }
        },
        series: [
          {
            name: "在办工单", type: "map", geoIndex: 0,
            data: d.regions.map(function (r) {
              var item = { name: r.id, value: r.open, overdue: r.overdue };
              if (r.overdue) item.itemStyle = { borderColor: "#b71c1c", borderWidth: 3 };
              return item;
            })
          },
          {
            name: "工单位置", type: "scatter", coordinateSystem: "geo", symbolSize: 9, z: 3,
            itemStyle: { color: "#1565c0" },
            data: d.cases.map(function (c) {
              return { name: "#" + c.id, value: c.at.concat([c.id]), tip: "#" + c.id + " " + c.type_name + "（" + c.location + "）",
                       itemStyle: c.urgent ? { color: "#b71c1c" } : undefined };
            })
          },
          {
            name: "网格员位置", type: "scatter", coordinateSystem: "geo", symbol: "pin", symbolSize: 22, z: 4,
            itemStyle: { color: "#2e7d32" },
            data: d.workers.map(function (w) {
              return { name: w.name, value: w.at, tip: w.name + "（" + w.seen.slice(11, 16) + " UTC 上报）" };
            })
          }
        ]
      }, { replaceMerge: ["series"] });
      el.dataset.node = state.node || "";
      el.dataset.tiles = d.tiles || ""; // GRIDBOT_MAP_TILES: exposed for a tile layer; not drawn (see README "The map")
      el.dataset.regions = d.regions.map(function (r) { return r.id; }).join(",");
      el.dataset.drawn = "true";
      up.hidden = d.path.length < 2;
      crumbs.replaceChildren.apply(crumbs, d.path.map(function (p) { return text("span", p.name); }));
      var items = d.hotspots.map(function (h) {
        var li = text("li", "");
        var a = text("a", h.grid_name + "｜" + h.type_name + "｜" + h.location);
        a.href = "/admin/tickets?node=" + encodeURIComponent(h.grid) + "&type=" + encodeURIComponent(h.type);
        li.append(a, text("b", " " + h.count + " 次"));
        return li;
      });
      if (!items.length) items = [text("li", "近 " + d.hotspot_rule.days + " 天没有同一地点反复发生的问题", "muted")];
      hot.replaceChildren.apply(hot, items);
    }

    function drill(id) {
      var r = state.data && state.data.regions.filter(function (x) { return x.id === id; })[0];
      if (r && r.drill) load(id);
    }

    chart.on("click", function (p) {
      if (p.componentType === "geo" || p.seriesType === "map") drill(p.name);
    });
    up.addEventListener("click", function () {
      var path = state.data ? state.data.path : [];
      if (path.length >= 2) load(path[path.length - 2].id);
    });
    el.gridbotMap = { load: load, drill: drill, chart: chart };
    load(null);
    state.timer = window.setInterval(refresh, REFRESH_MS);
  }

  function nearby() {
    var box = document.getElementById("nearby");
    if (!box) return;
    var list = document.getElementById("nearby-list");
    getJson("/admin/api/map/near?ticket=" + encodeURIComponent(box.dataset.ticket)).then(function (d) {
      if (!d.at) { list.replaceChildren(text("li", "工单没有位置坐标（居民未共享位置，位置也未匹配到楼栋）", "muted")); return; }
      if (!d.people.length) { list.replaceChildren(text("li", d.within_m + " 米内没有近期共享过位置的可派人员", "muted")); return; }
      list.replaceChildren.apply(list, d.people.map(function (p) {
        var li = text("li", p.name + "：约 " + p.metres + " 米 ");
        var form = document.createElement("form");
        form.method = "post";
        form.action = "/admin/tickets/" + d.ticket + "/nearby";
        form.className = "inline";
        [["csrf", box.dataset.csrf], ["person", p.id]].forEach(function (kv) {
          var input = document.createElement("input");
          input.type = "hidden"; input.name = kv[0]; input.value = kv[1];
          form.append(input);
        });
        var button = text("button", "派给" + p.name);
        button.type = "submit";
        form.append(button);
        li.append(form);
        return li;
      }));
    }).catch(function (err) { list.replaceChildren(text("li", "加载失败：" + err.message, "muted")); });
  }

  document.addEventListener("DOMContentLoaded", function () { mapPanel(); nearby(); });
})();
