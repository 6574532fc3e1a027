/* The dispatcher console (调度台): open tasks of the region, overdue first, by county; reassign,
 * decide extensions, verify and sign off, re-check signed-off work (防止反弹). */
"use strict";

(function () {
  var tasks = [];          // as the API gave them, soon-due first
  var overdueIds = {};     // the server's own verdict (its clock), from ?overdue=1
  var selectedId = null;
  var selectedTask = null;  // kept when an action moves the task out of the filtered list
  var view = "list";

  function $(id) { return document.getElementById(id); }

  function query(extra) {
    var params = new URLSearchParams();
    var status = $("f-status").value;
    var grid = $("f-grid").value.trim();
    if (status) { params.set("status", status); }
    if ($("f-region").value) { params.set("region_code", $("f-region").value); }
    if ($("f-category").value) { params.set("category", $("f-category").value); }
    if (grid) { params.set("grid_code", grid); }
    if ($("f-overdue").checked || extra) { params.set("overdue", "1"); }
    params.set("limit", "500");
    return "/api/v1/tasks?" + params.toString();
  }

  var signedIn;  // set by EG.staffSession once the page is ready

  function load() {
    var filters = $("filters");
    EG.clearErrors(filters);
    $("summary").textContent = EG.t("staff.loading");
    return Promise.all([EG.api("GET", query(false)), EG.api("GET", query(true))]).then(function (r) {
      var all = r[0], late = r[1];
      if (!all.ok) {
        $("summary").textContent = "";
        if (all.status === 401) { EG.clearToken(); signedIn(false); EG.showError($("signin"), all.error); return; }
        EG.showError(filters, all.error);
        return;
      }
      tasks = all.data || [];
      overdueIds = {};
      (late.ok ? late.data : []).forEach(function (task) { overdueIds[task.task_id] = true; });
      render();
    });
  }

  function stateOf(task) {
    var open = ["assigned", "accepted", "returned", "reopened"].indexOf(task.status) >= 0;
    var s = EG.deadlineState(task.deadline, overdueIds[task.task_id] || task.rung > 0);
    if (!open && task.status !== "closed") { s.overdue = false; s.soon = false; }
    return s;
  }

  function ordered() {
    // Overdue first, then the API's order (soonest deadline first); sort is stable.
    return tasks.slice().sort(function (a, b) {
      return (stateOf(b).overdue ? 1 : 0) - (stateOf(a).overdue ? 1 : 0);
    });
  }

  function assigneeText(task) {
    var a = task.assignee || {};
    return a.name ? a.name + (a.id ? " (" + a.id + ")" : "") : (a.id || EG.t("track.none"));
  }

  function render() {
    var rows = EG.clear($("task-rows"));
    var list = ordered();
    var late = 0, soon = 0;
    list.forEach(function (task) {
      var s = stateOf(task);
      if (s.overdue) { late += 1; } else if (s.soon) { soon += 1; }
      var flag = s.overdue && s.text !== EG.t("time.overdueNow")
        ? EG.el("span", {className: "flag overdue", text: EG.t("time.overdueNow")})
        : (s.soon ? EG.el("span", {className: "flag soon", text: EG.t("time.soon")}) : null);
      var due = [EG.fmtTime(task.deadline)];
      if (task.deadline_estimated) {
        due.push(" ", EG.el("span", {className: "flag estimated", title: EG.t("console.estimated.title"),
          text: EG.t("console.estimated")}));
      }
      rows.appendChild(EG.el("tr", {
        className: (s.overdue ? "overdue" : (s.soon ? "soon" : "")) + (task.task_id === selectedId ? " selected" : ""),
        "data-task-id": task.task_id, "data-case-no": task.case_no,
        "data-overdue": s.overdue ? "1" : "0"
      }, [
        EG.el("td", {className: "mono", text: task.case_no}),
        EG.el("td", {className: "region", text: EG.region(task.region_code)}),
        EG.el("td", {text: EG.category(task.category)}),
        EG.el("td", {}, [EG.el("span", {className: "mono", text: task.grid_code || ""}),
          task.unit ? EG.el("br") : null, task.unit || null]),
        EG.el("td", {text: assigneeText(task)}),
        EG.el("td", {className: "due"}, due),
        EG.el("td", {className: "left"}, [s.text, flag]),
        EG.el("td", {text: EG.lookup("task.", task.status)}),
        EG.el("td", {}, [EG.el("button", {
          type: "button", className: "small open-task", "data-task-id": task.task_id,
          "aria-label": EG.t("console.open") + " " + task.case_no, text: EG.t("console.open"),
          onclick: function () { select(task.task_id); }
        })])
      ]));
    });
    if (!list.length) {
      rows.appendChild(EG.el("tr", {}, [EG.el("td", {colspan: "9", text: EG.t("staff.empty")})]));
    }
    $("summary").textContent = EG.t("console.summary", {n: list.length, o: late, s: soon});
    renderByRegion(list);
    renderMap(list);
    renderDetail();
  }

  /* Open tasks per county, the counties with overdue work first. */
  function renderByRegion(list) {
    var counts = {};
    list.forEach(function (t) {
      var c = counts[t.region_code] = counts[t.region_code] || {n: 0, o: 0};
      c.n += 1;
      if (stateOf(t).overdue) { c.o += 1; }
    });
    var codes = Object.keys(counts).sort(function (a, b) {
      return (counts[b].o - counts[a].o) || (counts[b].n - counts[a].n) || (a < b ? -1 : 1);
    });
    var holder = EG.clear($("by-region"));
    if (!codes.length) { return; }
    holder.appendChild(document.createTextNode(EG.t("console.byRegion")));
    codes.forEach(function (code, i) {
      if (i) { holder.appendChild(document.createTextNode(" · ")); }
      holder.appendChild(EG.el("span", {"data-region": code, text: EG.t("console.byRegion.item",
        {name: EG.region(code), n: counts[code].n, o: counts[code].o})}));
    });
  }

  function renderOptions() {
    EG.fillSelect($("f-region"), EG_I18N.counties, EG.region);
    EG.fillSelect($("f-category"), Object.keys(EG_I18N.categories), EG.category);
  }

  // --- the "map": an SVG scatter of task positions and a list by grid --------------------
  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function renderMap(list) {
    var holder = EG.clear($("scatter"));
    var placed = list.filter(function (t) { return typeof t.lat === "number" && typeof t.lon === "number"; });
    var W = 640, H = 400, P = 40;
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "scatter", role: "img",
      "aria-label": EG.t("console.map.title")});
    if (placed.length) {
      var lats = placed.map(function (t) { return t.lat; });
      var lons = placed.map(function (t) { return t.lon; });
      var minLat = Math.min.apply(null, lats), maxLat = Math.max.apply(null, lats);
      var minLon = Math.min.apply(null, lons), maxLon = Math.max.apply(null, lons);
      // A margin round the points, so none sits on an axis.
      var padLat = Math.max((maxLat - minLat) * 0.1, 0.005), padLon = Math.max((maxLon - minLon) * 0.1, 0.005);
      minLat -= padLat; maxLat += padLat; minLon -= padLon; maxLon += padLon;
      var spanLat = maxLat - minLat, spanLon = maxLon - minLon;
      var x = function (lon) { return P + (lon - minLon) / spanLon * (W - 2 * P); };
      var y = function (lat) { return H - P - (lat - minLat) / spanLat * (H - 2 * P); };
      root.appendChild(svg("line", {x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis"}));
      root.appendChild(svg("line", {x1: P, y1: P, x2: P, y2: H - P, class: "axis"}));
      root.appendChild(svg("text", {x: P, y: H - P + 16}, minLon.toFixed(3) + "°E"));
      root.appendChild(svg("text", {x: W - P, y: H - P + 16, "text-anchor": "end"}, (minLon + spanLon).toFixed(3) + "°E"));
      root.appendChild(svg("text", {x: 4, y: H - P}, minLat.toFixed(3) + "°N"));
      root.appendChild(svg("text", {x: 4, y: P - 6}, (minLat + spanLat).toFixed(3) + "°N"));
      placed.forEach(function (t) {
        var s = stateOf(t);
        var dot = svg("circle", {cx: x(t.lon).toFixed(1), cy: y(t.lat).toFixed(1), r: 7,
          class: "pt" + (s.overdue ? " overdue" : (s.soon ? " soon" : "")), "data-task-id": t.task_id});
        dot.appendChild(svg("title", {}, t.case_no + " · " + EG.category(t.category) + " · " + s.text));
        root.appendChild(dot);
      });
    }
    holder.appendChild(root);

    var groups = {};
    list.forEach(function (t) { (groups[t.grid_code || "?"] = groups[t.grid_code || "?"] || []).push(t); });
    var ul = EG.clear($("grid-groups"));
    Object.keys(groups).sort().forEach(function (code) {
      var items = groups[code];
      var inner = EG.el("ul", {}, items.map(function (t) {
        var where = typeof t.lat === "number" ? t.lat.toFixed(4) + ", " + t.lon.toFixed(4) : EG.t("console.map.nocoords");
        return EG.el("li", {}, [EG.el("span", {className: "mono", text: t.case_no}), " · " + where + " · " + stateOf(t).text]);
      }));
      ul.appendChild(EG.el("li", {}, [
        EG.el("strong", {text: EG.t("console.map.grid", {grid: code + (items[0].unit ? " " + items[0].unit : ""), n: items.length})}),
        inner]));
    });
  }

  // --- one task: history and actions ------------------------------------------------------
  function current() {
    if (selectedId === null) { return null; }
    for (var i = 0; i < tasks.length; i += 1) {
      if (tasks[i].task_id === selectedId) { selectedTask = tasks[i]; return tasks[i]; }
    }
    return selectedTask;
  }

  function pendingExtension(task) {
    var last = null;
    (task.history || []).forEach(function (h) {
      if (["extension_requested", "extended", "extension_refused"].indexOf(h.action) >= 0) { last = h; }
    });
    return last && last.action === "extension_requested" ? last.detail || {} : null;
  }

  function select(taskId) {
    selectedId = taskId;
    selectedTask = null;
    $("d-done").hidden = true;
    ["reassign-form", "extension-form", "verify-form", "recheck-form"].forEach(function (id) { $(id).reset(); EG.clearErrors($(id)); });
    render();
    $("detail").focus();
  }

  function renderDetail() {
    var task = current();
    $("detail").hidden = !task;
    if (!task) { return; }
    $("d-case").textContent = task.case_no;
    var s = stateOf(task);
    $("d-summary").textContent = [EG.category(task.category), task.grid_code + (task.unit ? " " + task.unit : ""),
      EG.lookup("task.", task.status), EG.fmtTime(task.deadline) + " (" + s.text + ")",
      task.address ? EG.t("console.address") + ": " + task.address : null,
      task.result ? EG.t("console.result") + ": " + task.result : null]
      .filter(Boolean).join(" · ");
    var pending = pendingExtension(task);
    $("x-info").textContent = pending ? EG.t("console.extension.pending", {days: pending.days, reason: pending.reason || ""})
      : EG.t("console.extension.none");
    $("x-controls").hidden = !pending;
    $("v-info").textContent = task.status === "closed" ? (task.result || "") : EG.t("console.verify.none");
    $("v-controls").hidden = task.status !== "closed";
    $("k-info").textContent = task.status === "verified"
      ? EG.t("console.recheck.info", {at: EG.fmtTime(task.verified_at)}) : EG.t("console.recheck.none");
    $("k-controls").hidden = task.status !== "verified";
    var history = EG.clear($("d-history"));
    (task.history || []).slice().reverse().forEach(function (h) {
      var detail = h.detail || {};
      var extra = [detail.outcome ? EG.lookup("recheck.", detail.outcome) : null,
        detail.reason || detail.note || detail.result].filter(Boolean).join(" · ");
      history.appendChild(EG.el("li", {"data-action": h.action}, [
        EG.el("time", {datetime: h.at, text: EG.fmtTime(h.at)}),
        EG.lookup("action.", h.action) + (h.actor_id ? " · " + h.actor_id : "") + (extra ? " · " + extra : "")
      ]));
    });
  }

  function act(form, path, body) {
    EG.clearErrors(form);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    return EG.api("POST", path, {body: body}).then(function (res) {
      buttons.forEach(function (b) { b.disabled = false; });
      if (!res.ok) { EG.showError(form, res.error); return; }
      if (res.data && res.data.task_id === selectedId) { selectedTask = res.data; }
      form.reset();
      return load().then(function () { $("d-done").hidden = false; $("d-done").focus(); });
    });
  }

  function onReassign(event) {
    event.preventDefault();
    var body = {reason: $("r-reason").value.trim()};
    if ($("r-grid").value.trim()) { body.grid_code = $("r-grid").value.trim(); }
    act(event.target, "/api/v1/tasks/" + encodeURIComponent(selectedId) + "/reassign", body);
  }

  function onExtension(event) {
    event.preventDefault();
    var approve = !(event.submitter && event.submitter.value === "refuse");
    var body = {approve: approve};
    if ($("x-note").value.trim()) { body.note = $("x-note").value.trim(); }
    act(event.target, "/api/v1/tasks/" + encodeURIComponent(selectedId) + "/extension/decision", body);
  }

  function onVerify(event) {
    event.preventDefault();
    var approved = !(event.submitter && event.submitter.value === "sendback");
    var body = {approved: approved};
    if ($("v-note").value.trim()) { body.note = $("v-note").value.trim(); }
    act(event.target, "/api/v1/tasks/" + encodeURIComponent(selectedId) + "/verify", body);
  }

  function onRecheck(event) {
    event.preventDefault();
    var outcome = event.target.querySelector('input[name="outcome"]:checked');
    var body = outcome ? {outcome: outcome.value} : {};
    if ($("k-note").value.trim()) { body.note = $("k-note").value.trim(); }
    act(event.target, "/api/v1/tasks/" + encodeURIComponent(selectedId) + "/recheck", body);
  }

  function setView(next) {
    view = next;
    $("list-view").hidden = view !== "list";
    $("map-view").hidden = view !== "map";
    $("view-list").setAttribute("aria-pressed", String(view === "list"));
    $("view-map").setAttribute("aria-pressed", String(view === "map"));
  }

  document.addEventListener("DOMContentLoaded", function () {
    EG.init();
    $("filters").addEventListener("submit", function (event) { event.preventDefault(); load(); });
    $("refresh").addEventListener("click", load);
    $("view-list").addEventListener("click", function () { setView("list"); });
    $("view-map").addEventListener("click", function () { setView("map"); });
    $("detail-close").addEventListener("click", function () { selectedId = null; selectedTask = null; render(); });
    $("reassign-form").addEventListener("submit", onReassign);
    $("extension-form").addEventListener("submit", onExtension);
    $("verify-form").addEventListener("submit", onVerify);
    $("recheck-form").addEventListener("submit", onRecheck);
    renderOptions();
    document.addEventListener("eg:lang", function () {
      renderOptions();
      if (!$("workspace").hidden) { render(); }
    });
    window.setInterval(function () { if (!$("workspace").hidden && tasks.length) { render(); } }, 60000);
    setView("list");
    signedIn = EG.staffSession(load, function () { tasks = []; selectedId = null; selectedTask = null; });
  });
}());
