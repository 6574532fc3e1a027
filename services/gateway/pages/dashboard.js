/* The public dashboard (公开看板): league table, trends, hot-spot grids and a map, all from
 * public endpoints that carry no personal data. Redrawn on a language switch. */
"use strict";

(function () {
  var REGION = document.body.getAttribute("data-region") || "360300";
  var $ = function (id) { return document.getElementById(id); };
  var state = {level: "region", measure: "complaints", mapKind: "county", period: null,
               league: null, trends: null, hot: null, maps: {}};

  function pct(v) { return v === null || v === undefined ? EG.t("track.none") : Math.round(v * 100) + "%"; }
  function num(v) {
    return v === null || v === undefined ? EG.t("track.none")
      : new Intl.NumberFormat(EG.lang() === "zh" ? "zh-CN" : "en-GB").format(v);
  }

  /* "2026-11" -> 2026年11月 / Nov 2026; "2026-W48" -> 2026年第48周 / Week 48, 2026. */
  function periodName(p, short) {
    if (!p) { return ""; }
    var week = /^(\d{4})-W(\d{2})$/.exec(p);
    if (week) { return EG.t("dash.week", {y: week[1], w: Number(week[2])}); }
    var month = /^(\d{4})-(\d{2})$/.exec(p);
    if (month) {
      var d = new Date(Date.UTC(Number(month[1]), Number(month[2]) - 1, 15));
      var fmt = short ? {month: "short"} : {year: "numeric", month: "long"};
      return new Intl.DateTimeFormat(EG.lang() === "zh" ? "zh-CN" : "en-GB",
        Object.assign({timeZone: "UTC"}, fmt)).format(d);
    }
    return p;
  }

  function areaName(row) {
    if (row.name) { return row.name; }
    return EG.region(row.code) || row.code;
  }

  function status(text) { $("dash-status").textContent = text || ""; }

  function fail(result) { status(EG.t("dash.failed", {message: EG.errorText(result.error)})); }

  // --- loading -------------------------------------------------------------------------------
  function get(path) { return EG.api("GET", path, {token: ""}); }

  function loadLeague() {
    var q = "/api/v1/stats/league?region=" + REGION + "&level=" + state.level +
      (state.period ? "&period=" + encodeURIComponent(state.period) : "");
    return get(q).then(function (r) {
      if (!r.ok) { fail(r); return; }
      state.league = r.data;
      state.period = r.data.period;
      drawLeague();
      if (state.mapKind === "county") { drawMap(); }
    });
  }

  function loadHot() {
    return get("/api/v1/stats/hotspots?region=" + REGION + "&measure=" + state.measure).then(function (r) {
      if (!r.ok) { fail(r); return; }
      state.hot = r.data;
      drawHot();
      if (state.mapKind === "grid") { drawMap(); }
    });
  }

  function loadAll() {
    status(EG.t("dash.loading"));
    var maps = ["county", "grid"].map(function (level) {
      return get("/api/v1/public/map?region=" + REGION + "&level=" + level).then(function (r) {
        if (r.ok) { state.maps[level] = r.data; } else { fail(r); }
      });
    });
    var trends = get("/api/v1/stats/trends?region=" + REGION).then(function (r) {
      if (!r.ok) { fail(r); return; }
      state.trends = r.data;
      fillPeriods();
      drawTrends();
    });
    Promise.all(maps.concat([trends])).then(function () {
      return Promise.all([loadLeague(), loadHot()]);
    }).then(function () {
      if ($("dash-status").textContent === EG.t("dash.loading")) { status(""); }
      document.body.setAttribute("data-ready", "true");
    });
  }

  // --- league table ----------------------------------------------------------------------------
  function fillPeriods() {
    var select = $("period");
    var current = select.value;
    EG.clear(select);
    state.trends.series.slice().reverse().forEach(function (s) {
      select.appendChild(EG.el("option", {value: s.period, text: periodName(s.period)}));
    });
    select.value = current || state.period || state.trends.to;
  }

  function changeText(row) {
    if (!row.ranked || row.rank_change === null || row.rank_change === undefined) { return EG.t("track.none"); }
    if (row.rank_change > 0) { return "▲ " + EG.t("dash.change.up", {n: row.rank_change}); }
    if (row.rank_change < 0) { return "▼ " + EG.t("dash.change.down", {n: -row.rank_change}); }
    return EG.t("dash.change.same");
  }

  function sizeText(row) {
    var size = row.size || {};
    var parts = [];
    if (size.population) { parts.push(EG.t("dash.size.population", {n: num(size.population)})); }
    if (size.grid_cells) { parts.push(EG.t("dash.size.cells", {n: num(size.grid_cells)})); }
    return parts.join(" · ") || EG.t("track.none");
  }

  function whyUnranked(row) {
    var parts = (row.shortfalls || []).map(function (s) {
      var figure = EG.t("dash.figure." + s.figure);
      return EG.t("dash.short", {figure: figure === "dash.figure." + s.figure ? s.figure : figure,
        value: s.value, minimum: s.minimum});
    });
    if (row.no_size) { parts.push(EG.t("dash.short.no_size")); }
    return parts.length ? parts.join(EG.lang() === "zh" ? "；" : "; ") : (row.reason_unranked || "");
  }

  function drawLeague() {
    var data = state.league;
    if (!data) { return; }
    $("league-meta").textContent = EG.t("dash.league.meta", {period: periodName(data.period),
      before: periodName(data.compared_with), basis: EG.t("dash.basis." + (data.size_basis || "grid_cells"))});
    var body = EG.clear($("league-rows"));
    data.rows.forEach(function (row) {
      var tr = EG.el("tr", {"data-scope": row.scope, className: row.ranked ? "" : "unranked"}, [
        EG.el("td", {text: row.ranked ? String(row.rank) : EG.t("dash.unranked")}),
        EG.el("td", {}, [areaName(row), row.ranked ? null : EG.el("span", {className: "why",
          text: EG.t("dash.unranked.why", {reason: whyUnranked(row)})})]),
        EG.el("td", {text: row.score === null ? EG.t("track.none") : row.score.toFixed(2)}),
        EG.el("td", {text: changeText(row), className: row.rank_change > 0 ? "up" : row.rank_change < 0 ? "down" : ""}),
        EG.el("td", {text: pct(row.figures.on_time_rate)}),
        EG.el("td", {text: pct(row.figures.satisfaction_rate)}),
        EG.el("td", {text: num(row.figures.closed)}),
        EG.el("td", {text: sizeText(row)})
      ]);
      body.appendChild(tr);
    });
    $("league-empty").hidden = data.rows.length > 0;
    var scored = data.rows.filter(function (r) { return r.score !== null; });
    var holder = $("chart-league");
    if (!scored.length) { EG.clear(holder); return; }
    EGChart.bars(holder, {label: EG.t("dash.league.chart"), max: 100,
      format: function (v) { return v.toFixed(1); },
      items: scored.map(function (r) {
        return {label: (r.ranked ? r.rank + ". " : "") + areaName(r), value: r.score,
          className: r.ranked ? "ranked" : "unranked",
          title: areaName(r) + ": " + r.score.toFixed(2) + (r.ranked ? "" : " (" + EG.t("dash.unranked") + ")")};
      }),
      legend: [{name: EG.t("dash.ranked"), className: "ranked"},
               {name: EG.t("dash.unranked"), className: "unranked"}]});
  }

  // --- trends ----------------------------------------------------------------------------------
  function drawTrends() {
    var data = state.trends;
    if (!data) { return; }
    var labels = data.series.map(function (s) { return periodName(s.period, true); });
    EGChart.columns($("chart-trends"), {label: EG.t("dash.trends.volume"), categories: labels,
      series: [
        {name: EG.t("dash.series.received"), className: "s1", values: data.series.map(function (s) { return s.received; })},
        {name: EG.t("dash.series.closed_on_time"), className: "s2", values: data.series.map(function (s) { return s.closed_on_time; })}
      ]});
    EGChart.lines($("chart-rates"), {label: EG.t("dash.trends.rates"), categories: labels, max: 1,
      format: function (v) { return Math.round(v * 100) + "%"; },
      series: [
        {name: EG.t("dash.series.on_time_rate"), className: "s2", values: data.series.map(function (s) { return s.on_time_rate; })},
        {name: EG.t("dash.series.satisfaction_rate"), className: "s3", values: data.series.map(function (s) { return s.satisfaction_rate; })}
      ]});
    $("trends-meta").textContent = EG.t("dash.trends.meta", {from: periodName(data.from), to: periodName(data.to)});
  }

  // --- hot spots --------------------------------------------------------------------------------
  function drawHot() {
    var data = state.hot;
    if (!data) { return; }
    $("hot-meta").textContent = EG.t("dash.hot.meta", {period: periodName(data.period),
      n: data.periods.length - 1});
    var list = EG.clear($("hot-list"));
    data.hot_spots.forEach(function (h) {
      var reasons = h.reasons.map(function (r) { return EG.t("dash.hot.reason." + r); }).join("，");
      list.appendChild(EG.el("li", {"data-grid": h.grid}, [
        EG.el("strong", {text: h.name || h.grid}), " ",
        EG.el("span", {className: "meta", text: (EG.region(h.region_code) || h.region_code || "") + " · " +
          EG.t("dash.hot.count", {count: h.count, mean: h.own_baseline === null ? EG.t("track.none") : h.own_baseline})}),
        EG.el("span", {className: "flag hot", text: reasons})
      ]));
    });
    $("hot-none").hidden = data.hot_spots.length > 0;
    var holder = $("chart-hotspots");
    if (!data.hot_spots.length) { EG.clear(holder); return; }
    EGChart.columns(holder, {label: EG.t("dash.hot.chart"),
      categories: data.hot_spots.map(function (h) { return h.name || h.grid; }),
      series: [
        {name: EG.t("dash.series.count"), className: "s4", values: data.hot_spots.map(function (h) { return h.count; })},
        {name: EG.t("dash.series.mean"), className: "s5", values: data.hot_spots.map(function (h) { return h.own_baseline || 0; })}
      ]});
  }

  // --- map ---------------------------------------------------------------------------------------
  function drawMap() {
    var kind = state.mapKind, geo = state.maps[kind], holder = $("map");
    if (!geo) { return; }
    var values = {};
    if (kind === "county" && state.league && state.league.level === "region") {
      state.league.rows.forEach(function (r) { values[r.code] = r.score; });
    } else if (kind === "grid" && state.hot) {
      state.hot.grids.forEach(function (g) { values[g.code] = g.count; });
    }
    EGChart.map(holder, {features: geo.features, label: EG.t("dash.map." + kind),
      max: kind === "county" ? 100 : null, noData: EG.t("dash.map.nodata"),
      format: function (v) { return kind === "county" ? v.toFixed(0) : String(Math.round(v)); },
      value: function (f) {
        var v = values[f.properties.code];
        return v === undefined ? null : v;
      },
      label_of: function (f, v) {
        return (f.properties.name || f.properties.code) + ": " + (v === null ? EG.t("dash.map.nodata") : v);
      }});
    $("map-meta").textContent = kind === "county"
      ? EG.t("dash.map.county.meta", {period: periodName(state.league ? state.league.period : "")})
      : EG.t("dash.map.grid.meta", {period: periodName(state.hot ? state.hot.period : "")});
  }

  // --- controls -----------------------------------------------------------------------------------
  function toggle(ids, chosen) {
    ids.forEach(function (id) { $(id).setAttribute("aria-pressed", id === chosen ? "true" : "false"); });
  }

  function redraw() {
    if (state.trends) { fillPeriods(); }
    drawLeague(); drawTrends(); drawHot(); drawMap();
  }

  document.addEventListener("DOMContentLoaded", function () {
    EG.init();
    $("level-region").addEventListener("click", function () {
      state.level = "region"; toggle(["level-region", "level-grid"], "level-region"); loadLeague();
    });
    $("level-grid").addEventListener("click", function () {
      state.level = "grid"; toggle(["level-region", "level-grid"], "level-grid"); loadLeague();
    });
    $("period").addEventListener("change", function () {
      state.period = $("period").value; loadLeague();
    });
    $("measure-complaints").addEventListener("click", function () {
      state.measure = "complaints"; toggle(["measure-complaints", "measure-exceedances"], "measure-complaints"); loadHot();
    });
    $("measure-exceedances").addEventListener("click", function () {
      state.measure = "exceedances"; toggle(["measure-complaints", "measure-exceedances"], "measure-exceedances"); loadHot();
    });
    $("map-county").addEventListener("click", function () {
      state.mapKind = "county"; toggle(["map-county", "map-grid"], "map-county");
      if (state.level !== "region") { $("level-region").click(); } else { drawMap(); }
    });
    $("map-grid").addEventListener("click", function () {
      state.mapKind = "grid"; toggle(["map-county", "map-grid"], "map-grid"); drawMap();
    });
    document.addEventListener("eg:lang", redraw);
    // Charts are drawn at their shown width: draw again when it changes (a phone turned).
    var shown = window.innerWidth, pending = null;
    window.addEventListener("resize", function () {
      if (window.innerWidth === shown) { return; }
      shown = window.innerWidth;
      window.clearTimeout(pending);
      pending = window.setTimeout(redraw, 200);
    });
    loadAll();
  });
}());
