/* Follow a case by its number: GET /api/v1/public/cases/<no>. The answer holds no personal
 * data and this page adds none. */
"use strict";

(function () {
  var form, current = null;

  function show(selector, visible) {
    document.querySelectorAll(selector).forEach(function (node) { node.hidden = !visible; });
  }

  function render() {
    var c = current;
    if (!c) { return; }
    var none = EG.t("track.none");
    document.getElementById("c-no").textContent = c.case_no;
    document.getElementById("c-status").textContent = EG.lookup("status.", c.status);
    document.getElementById("c-status").setAttribute("data-status", c.status);
    document.getElementById("c-category").textContent = (c.categories && c.categories.length ? c.categories : [c.category])
      .map(EG.category).join("、");
    document.getElementById("c-received").textContent = EG.fmtTime(c.received_at);
    document.getElementById("c-deadline").textContent = c.deadline ? EG.fmtTime(c.deadline)
      : (c.accept_due && c.status === "received" ? EG.fmtTime(c.accept_due) : none);
    document.getElementById("c-agency").textContent = c.agency || none;
    document.getElementById("c-updated").textContent = EG.fmtTime(c.updated_at);

    var reason = c.decline_reason && EG_I18N.declineReasons[c.decline_reason];
    show(".c-decline", Boolean(c.decline_reason));
    document.getElementById("c-decline").textContent = reason
      ? reason[EG.lang()] + (EG.lang() === "zh" ? "。" : ". ") + reason["next_" + EG.lang()] : (c.decline_reason || "");
    show(".c-merged", Boolean(c.merged_into));
    var merged = document.getElementById("c-merged");
    merged.textContent = c.merged_into || "";
    merged.setAttribute("href", "/track?case=" + encodeURIComponent(c.merged_into || ""));
    show(".c-result", Boolean(c.result));
    document.getElementById("c-result").textContent = c.result || "";
    show(".c-founded", c.founded === true || c.founded === false);
    document.getElementById("c-founded").textContent = c.founded === true ? EG.t("track.founded.yes")
      : (c.founded === false ? EG.t("track.founded.no") : "");

    var list = EG.clear(document.getElementById("c-history"));
    (c.history || []).forEach(function (h) {
      list.appendChild(EG.el("li", {"data-action": h.action}, [
        EG.el("time", {datetime: h.at, text: EG.fmtTime(h.at)}),
        EG.el("span", {text: EG.lookup("action.", h.action)})
      ]));
    });
    document.getElementById("case").hidden = false;
  }

  function lookup(caseNo, push) {
    caseNo = caseNo.trim();
    EG.clearErrors(form);
    if (!caseNo) {
      EG.showError(form, {code: "missing_field", field: "case_no", message: "case_no is required"});
      return;
    }
    var status = document.getElementById("track-status");
    status.textContent = EG.t("track.loading");
    EG.api("GET", "/api/v1/public/cases/" + encodeURIComponent(caseNo), {token: ""}).then(function (res) {
      status.textContent = "";
      if (!res.ok) {
        current = null;
        document.getElementById("case").hidden = true;
        EG.showError(form, res.error);
        return;
      }
      current = res.data;
      if (push) { window.history.replaceState(null, "", "/track?case=" + encodeURIComponent(caseNo)); }
      render();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    EG.init();
    form = document.getElementById("track-form");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      lookup(document.getElementById("case-no").value, true);
    });
    document.addEventListener("eg:lang", render);
    var initial = new URLSearchParams(window.location.search).get("case");
    if (initial) {
      document.getElementById("case-no").value = initial;
      lookup(initial, false);
    }
  });
}());
