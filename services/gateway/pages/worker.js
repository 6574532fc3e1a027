/* The grid worker's page (网格员, for phones): my tasks with their deadlines; sign for a task
 * (签收), close with the result, send back a wrongly routed task, ask for more time. */
"use strict";

(function () {
  var tasks = [];
  var openForm = {};  // task_id -> "close" | "return" | "extension"
  var uploaded = {};  // photos sent already: file -> media_url

  function $(id) { return document.getElementById(id); }

  var signedIn;  // set by EG.staffSession once the page is ready

  function load() {
    $("summary").textContent = EG.t("staff.loading");
    $("list-error").hidden = true;
    return EG.api("GET", "/api/v1/tasks?limit=200").then(function (res) {
      $("summary").textContent = "";
      if (!res.ok) {
        if (res.status === 401) { EG.clearToken(); signedIn(false); EG.showError($("signin"), res.error); return; }
        $("list-error").textContent = EG.errorText(res.error);
        $("list-error").hidden = false;
        return;
      }
      tasks = res.data || [];
      render();
    });
  }

  function can(task, what) {
    var s = task.status;
    if (what === "return") { return s === "assigned" || s === "accepted"; }
    if (what === "acknowledge") { return s === "assigned" || s === "reopened"; }
    return s === "assigned" || s === "accepted" || s === "reopened";
  }

  function field(id, labelKey, control, errorFor) {
    return EG.el("div", {className: "field"}, [
      EG.el("label", {"for": id, "data-i18n": labelKey, text: EG.t(labelKey)}),
      control,
      EG.el("p", {className: "field-error", "data-error-for": errorFor, role: "alert", hidden: true})
    ]);
  }

  function closeForm(task) {
    var p = "c-" + task.task_id;
    return EG.el("form", {className: "close-form", "data-kind": "close", novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      var founded = e.target.querySelector('input[name="founded"]:checked');
      var body = {result: $(p + "-result").value};
      if (founded) { body.founded = founded.value === "yes"; }
      var evidence = $(p + "-evidence").value.split(/\n+/).map(function (s) { return s.trim(); })
        .filter(Boolean);
      var form = e.target;
      // Photos first: their URLs join the evidence of the closure.
      EG.clearErrors(form);
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      EG.uploadPhotos($(p + "-photos").files, uploaded).then(function (photos) {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        if (!photos.ok) { EG.showError(form, photos.error); return; }
        evidence = evidence.concat(photos.urls);
        if (evidence.length) { body.evidence = evidence; }
        send(form, task, "close", body, "worker.closed");
      });
    }}, [
      EG.el("p", {className: "form-error", "data-error-for": "_form task_id", role: "alert", hidden: true}),
      field(p + "-result", "worker.result", EG.el("textarea", {id: p + "-result", name: "result",
        "data-field": "result", rows: "4", maxlength: "4000"}), "result"),
      EG.el("fieldset", {className: "group"}, [
        EG.el("legend", {"data-i18n": "worker.founded", text: EG.t("worker.founded")}),
        EG.el("div", {className: "radios"}, [
          EG.el("label", {}, [EG.el("input", {type: "radio", name: "founded", value: "yes", id: p + "-yes", "data-field": "founded"}),
            EG.el("span", {"data-i18n": "worker.founded.yes", text: EG.t("worker.founded.yes")})]),
          EG.el("label", {}, [EG.el("input", {type: "radio", name: "founded", value: "no", id: p + "-no"}),
            EG.el("span", {"data-i18n": "worker.founded.no", text: EG.t("worker.founded.no")})])
        ]),
        EG.el("p", {className: "field-error", "data-error-for": "founded", role: "alert", hidden: true})
      ]),
      field(p + "-evidence", "worker.evidence", EG.el("textarea", {id: p + "-evidence", name: "evidence",
        "data-field": "evidence", rows: "2"}), "evidence"),
      field(p + "-photos", "worker.photos", EG.el("input", {id: p + "-photos", name: "photos", type: "file",
        accept: "image/jpeg,image/png,image/webp", multiple: true, "data-field": "file"}),
        "file evidence.0 evidence.1 evidence.2 evidence.3 evidence.4 evidence.5 evidence.6 evidence.7 evidence.8"),
      buttons("worker.closeSubmit", task)
    ]);
  }

  function returnForm(task) {
    var p = "r-" + task.task_id;
    return EG.el("form", {className: "return-form", "data-kind": "return", novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      send(e.target, task, "return", {reason: $(p + "-reason").value}, "worker.returned");
    }}, [
      EG.el("p", {className: "form-error", "data-error-for": "_form task_id", role: "alert", hidden: true}),
      field(p + "-reason", "worker.return.reason", EG.el("textarea", {id: p + "-reason", name: "reason",
        "data-field": "reason", rows: "2", maxlength: "1000"}), "reason"),
      buttons("worker.return.submit", task)
    ]);
  }

  function extensionForm(task) {
    var p = "x-" + task.task_id;
    return EG.el("form", {className: "extension-form", "data-kind": "extension", novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      var days = $(p + "-days").value.trim();
      var body = {reason: $(p + "-reason").value};
      if (days) { body.days = /^\d+$/.test(days) ? parseInt(days, 10) : days; }
      send(e.target, task, "extension", body, "worker.extensionSent");
    }}, [
      EG.el("p", {className: "form-error", "data-error-for": "_form task_id", role: "alert", hidden: true}),
      field(p + "-days", "worker.extension.days", EG.el("input", {id: p + "-days", name: "days", type: "number",
        min: "1", max: "365", inputmode: "numeric", "data-field": "days"}), "days"),
      field(p + "-reason", "worker.extension.reason", EG.el("textarea", {id: p + "-reason", name: "reason",
        "data-field": "reason", rows: "2", maxlength: "1000"}), "reason"),
      buttons("worker.extension.submit", task)
    ]);
  }

  function buttons(submitKey, task) {
    return EG.el("div", {className: "actions tight"}, [
      EG.el("button", {type: "submit", className: "primary", "data-i18n": submitKey, text: EG.t(submitKey)}),
      EG.el("button", {type: "button", "data-i18n": "worker.cancel", text: EG.t("worker.cancel"),
        onclick: function () { delete openForm[task.task_id]; render(); }})
    ]);
  }

  function send(form, task, what, body, doneKey) {
    EG.clearErrors(form);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    EG.api("POST", "/api/v1/tasks/" + encodeURIComponent(task.task_id) + "/" + what, {body: body})
      .then(function (res) {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        if (!res.ok) { EG.showError(form, res.error); return; }
        delete openForm[task.task_id];
        $("notice").textContent = task.case_no + "：" + EG.t(doneKey);
        $("notice").hidden = false;
        load().then(function () { $("notice").focus(); });
      });
  }

  function card(task) {
    var s = EG.deadlineState(task.deadline, task.rung > 0);
    var kind = openForm[task.task_id];
    var toggle = function (what) {
      return function () { openForm[task.task_id] = kind === what ? undefined : what; render(); };
    };
    var actions = EG.el("div", {className: "actions tight"}, [
      can(task, "acknowledge") ? EG.el("button", {type: "button", className: "primary act-acknowledge",
        text: EG.t("worker.acknowledge"), onclick: function (e) {
          send(e.target.closest("li.task-card"), task, "acknowledge", {}, "worker.acknowledged");
        }}) : null,
      can(task, "close") ? EG.el("button", {type: "button", className: "primary act-close", "aria-expanded": String(kind === "close"),
        text: EG.t("worker.closeTask"), onclick: toggle("close")}) : null,
      can(task, "return") ? EG.el("button", {type: "button", className: "act-return", "aria-expanded": String(kind === "return"),
        text: EG.t("worker.return"), onclick: toggle("return")}) : null,
      can(task, "extension") ? EG.el("button", {type: "button", className: "act-extension", "aria-expanded": String(kind === "extension"),
        text: EG.t("worker.extension"), onclick: toggle("extension")}) : null
    ]);
    var form = kind === "close" ? closeForm(task) : kind === "return" ? returnForm(task)
      : kind === "extension" ? extensionForm(task) : null;
    var open = ["assigned", "accepted", "reopened", "returned"].indexOf(task.status) >= 0;
    var tone = open && s.overdue ? " overdue" : (open && s.soon ? " soon" : "");
    return EG.el("li", {className: "task-card" + tone, "data-task-id": task.task_id, "data-case-no": task.case_no}, [
      EG.el("h2", {}, [EG.category(task.category), " ", EG.el("span", {className: "mono", text: task.case_no})]),
      EG.el("p", {className: "meta", text: [task.grid_code + (task.unit ? " " + task.unit : ""),
        EG.lookup("task.", task.status)].join(" · ")}),
      task.description ? EG.el("p", {text: task.description}) : null,
      task.address ? EG.el("p", {className: "meta", text: EG.t("console.address") + "：" + task.address}) : null,
      EG.el("p", {className: "due"}, [EG.t("worker.due") + "：" + EG.fmtTime(task.deadline) + (open ? " · " + s.text : "")]),
      EG.el("p", {className: "form-error", "data-error-for": "_form task_id", role: "alert", hidden: true}),
      actions,
      form
    ]);
  }

  /* Re-rendering (language switch, the minute tick) keeps what was typed. */
  function render() {
    var list = $("task-list");
    var kept = {};
    list.querySelectorAll("input, textarea").forEach(function (input) {
      // A chosen file cannot be set back.
      if (input.id && input.type !== "file") { kept[input.id] = input.type === "radio" ? input.checked : input.value; }
    });
    EG.clear(list);
    tasks.forEach(function (task) { list.appendChild(card(task)); });
    Object.keys(kept).forEach(function (id) {
      var input = $(id);
      if (!input) { return; }
      if (input.type === "radio") { input.checked = kept[id]; } else { input.value = kept[id]; }
    });
    $("summary").textContent = tasks.length ? "" : EG.t("staff.empty");
  }

  document.addEventListener("DOMContentLoaded", function () {
    EG.init();
    $("refresh").addEventListener("click", load);
    document.addEventListener("eg:lang", function () { if (!$("workspace").hidden) { render(); } });
    window.setInterval(function () {
      // Do not redraw under someone typing.
      if (!$("workspace").hidden && tasks.length && !Object.keys(openForm).some(function (k) { return openForm[k]; })) { render(); }
    }, 60000);
    signedIn = EG.staffSession(load, function () { tasks = []; EG.clear($("task-list")); });
  });
}());
