/* The public complaint form (公众举报): POST /api/v1/complaints. */
"use strict";

(function () {
  var form, idempotencyKey, position = null, busy = false;
  var MAX_PHOTOS = 3;
  var uploaded = {};  // photos sent already: file -> media_url

  function renderOptions() {
    EG.fillSelect(document.getElementById("category"), Object.keys(EG_I18N.categories), EG.category);
    EG.fillSelect(document.getElementById("region"), EG_I18N.counties, EG.region);
    renderGeo();
  }

  function renderGeo() {
    var status = document.getElementById("geo-status");
    var state = status.getAttribute("data-state");
    if (state === "ok" && position) {
      status.textContent = EG.t("form.geo.ok", {lat: position.lat.toFixed(5), lon: position.lon.toFixed(5)});
    } else if (state === "busy") {
      status.textContent = EG.t("form.geo.busy");
    } else if (state === "unavailable") {
      status.textContent = EG.t("form.geo.unavailable");
    } else if (state === "denied") {
      status.textContent = EG.t("form.geo.denied", {reason: status.getAttribute("data-reason") || ""});
    } else {
      status.textContent = "";
    }
    document.getElementById("geo-clear").hidden = position === null;
  }

  function setGeo(state, reason) {
    var status = document.getElementById("geo-status");
    status.setAttribute("data-state", state);
    status.setAttribute("data-reason", reason || "");
    renderGeo();
  }

  function useLocation() {
    if (!("geolocation" in navigator)) { setGeo("unavailable"); return; }
    setGeo("busy");
    navigator.geolocation.getCurrentPosition(function (pos) {
      position = {lat: pos.coords.latitude, lon: pos.coords.longitude};
      setGeo("ok");
    }, function (err) {
      position = null;
      setGeo("denied", err && err.message ? err.message : "");
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  }

  function toggleAnonymous() {
    var anonymous = document.getElementById("anonymous").checked;
    var contact = document.getElementById("contact-fields");
    contact.hidden = anonymous;
    contact.querySelectorAll("input").forEach(function (input) { input.disabled = anonymous; });
  }

  function value(id) { return document.getElementById(id).value.trim(); }

  /* The body exactly as the API takes it; empty optional fields are left out. The server
   * decides what is valid, so its messages are the ones a person sees. */
  function body() {
    var b = {description: document.getElementById("description").value, channel: "web"};
    if (value("category")) { b.category = value("category"); }
    if (value("enterprise")) { b.enterprise = value("enterprise"); }
    if (value("address")) { b.address = value("address"); }
    if (value("region")) { b.region_code = value("region"); }
    if (position) { b.lat = position.lat; b.lon = position.lon; }
    if (document.getElementById("anonymous").checked) {
      b.complainant = {anonymous: true};
    } else if (value("name") || value("phone")) {
      b.complainant = {language: EG.lang() === "en" ? "en" : "zh-CN"};
      if (value("name")) { b.complainant.name = value("name"); }
      if (value("phone")) { b.complainant.phone = value("phone"); }
    }
    return b;
  }

  function setBusy(on) {
    busy = on;
    var button = document.getElementById("submit");
    button.disabled = on;
    button.setAttribute("data-i18n", on ? "form.submitting" : "form.submit");
    button.textContent = EG.t(on ? "form.submitting" : "form.submit");
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  function submit(event) {
    event.preventDefault();
    if (busy) { return; }  // a double click sends one request; a retry reuses the key anyway
    EG.clearErrors(form);
    var files = document.getElementById("photo").files;
    if (files.length > MAX_PHOTOS) {
      EG.showError(form, {code: "too_many", field: "file", message: ""});
      return;
    }
    setBusy(true);
    if (files.length) { document.getElementById("submit").textContent = EG.t("form.photo.uploading"); }
    EG.uploadPhotos(files, uploaded, {token: ""}).then(function (photos) {
      if (!photos.ok) { return photos; }
      var b = body();
      if (photos.urls.length) { b.media = photos.urls; }
      return EG.api("POST", "/api/v1/complaints", {body: b, token: "", idempotencyKey: idempotencyKey});
    }).then(function (res) {
      setBusy(false);
      if (!res.ok) { EG.showError(form, res.error); return; }
      showDone(res.data.case_no);
    });
  }

  function showDone(caseNo) {
    document.getElementById("case-no").textContent = caseNo;
    document.getElementById("track-link").setAttribute("href", "/track?case=" + encodeURIComponent(caseNo));
    form.hidden = true;
    var done = document.getElementById("done");
    done.hidden = false;
    done.focus();
  }

  function again() {
    form.reset();
    position = null;
    uploaded = {};
    setGeo("");
    toggleAnonymous();
    EG.clearErrors(form);
    idempotencyKey = EG.uuid();  // a new report is a new submission
    document.getElementById("done").hidden = true;
    form.hidden = false;
    document.getElementById("category").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    EG.init();
    form = document.getElementById("complaint-form");
    idempotencyKey = EG.uuid();  // one per form fill: double clicks and retries file once
    renderOptions();
    toggleAnonymous();
    form.addEventListener("submit", submit);
    document.getElementById("anonymous").addEventListener("change", toggleAnonymous);
    document.getElementById("geo-use").addEventListener("click", useLocation);
    document.getElementById("geo-clear").addEventListener("click", function () {
      position = null;
      setGeo("");
    });
    document.getElementById("again").addEventListener("click", again);
    document.addEventListener("eg:lang", renderOptions);
  });
}());
