/* envgrid pages: what every page shares. Language, the API call, error display, time. */
"use strict";

var EG = (function () {
  var LANG_KEY = "envgrid.lang";
  var TOKEN_KEY = "envgrid.token";
  var TZ = "Asia/Shanghai";  // deadlines are local to the grid (policy.yaml timezone)

  function storedLang() {
    try {
      var v = window.localStorage.getItem(LANG_KEY);
      if (v === "zh" || v === "en") { return v; }
    } catch (e) { /* storage blocked: stay in Chinese */ }
    return "zh";
  }

  var lang = storedLang();

  function t(key, params) {
    var table = EG_I18N.strings[lang] || {};
    var text = Object.prototype.hasOwnProperty.call(table, key) ? table[key]
      : (EG_I18N.strings.zh[key] !== undefined ? EG_I18N.strings.zh[key] : key);
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return params[name] !== undefined && params[name] !== null ? String(params[name]) : m;
      });
    }
    return text;
  }

  function has(key) { return Object.prototype.hasOwnProperty.call(EG_I18N.strings[lang], key); }

  function applyI18n(root) {
    root = root || document;
    root.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    root.querySelectorAll("[data-i18n-placeholder]").forEach(function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    });
    root.querySelectorAll("[data-i18n-aria-label]").forEach(function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
    });
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    applyI18n(document);
    var title = document.body.getAttribute("data-title");
    if (title) { document.title = t(title) + " · " + t("site.name"); }
    var button = document.getElementById("lang-switch");
    if (button) {
      button.textContent = t("lang.switch");
      button.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
      button.setAttribute("aria-label", t("lang.switch.label"));
    }
  }

  function setLang(next) {
    lang = next === "en" ? "en" : "zh";
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not remembered */ }
    applyLang();
    document.dispatchEvent(new CustomEvent("eg:lang", {detail: {lang: lang}}));
  }

  // --- names of things ---------------------------------------------------------------------
  function named(table, code) {
    var entry = table[code];
    return entry ? entry[lang] : (code || "");
  }
  function category(code) { return named(EG_I18N.categories, code); }
  function region(code) { return named(EG_I18N.regions, code); }
  function lookup(prefix, code) { return has(prefix + code) ? t(prefix + code) : (code || ""); }

  // --- time --------------------------------------------------------------------------------
  function fmtTime(iso) {
    if (!iso) { return t("track.none"); }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hour12: false
    }).format(d);
  }

  function duration(ms) {
    var minutes = Math.max(1, Math.round(Math.abs(ms) / 60000));
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var sep = lang === "zh" ? "" : " ";
    if (days > 0) {
      return t("time.days", {n: days}) + (hours ? sep + t("time.hours", {n: hours}) : "");
    }
    if (hours > 0) { return t("time.hours", {n: hours}) + sep + t("time.minutes", {n: minutes % 60}); }
    return t("time.minutes", {n: minutes});
  }

  /* Where a deadline stands. ``serverOverdue`` is the server's own verdict (its clock decides
   * escalation); the browser's clock only gives the time left. */
  function deadlineState(iso, serverOverdue) {
    var left = new Date(iso).getTime() - Date.now();
    var overdue = Boolean(serverOverdue) || left <= 0;
    var text;
    if (overdue) { text = left <= 0 ? t("time.overdue", {d: duration(left)}) : t("time.overdueNow"); }
    else { text = t("time.left", {d: duration(left)}); }
    return {overdue: overdue, soon: !overdue && left < 24 * 3600 * 1000, text: text, left: left};
  }

  // --- the API -----------------------------------------------------------------------------
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);  // also outside secure contexts
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /* Resolve to {ok, status, data} or {ok: false, status, error: {code, message, field}};
   * never rejects. */
  function api(method, path, options) {
    options = options || {};
    var headers = {"Accept": "application/json"};
    var init = {method: method, headers: headers, credentials: "same-origin", cache: "no-store"};
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    } else if (options.file) {  // a raw upload: the server checks what the bytes are
      headers["Content-Type"] = options.file.type || "application/octet-stream";
      init.body = options.file;
    }
    var token = options.token === undefined ? getToken() : options.token;
    if (token) { headers["Authorization"] = "Bearer " + token; }
    if (options.idempotencyKey) { headers["Idempotency-Key"] = options.idempotencyKey; }
    return window.fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.ok) { return {ok: true, status: response.status, data: data}; }
        var error = data && data.error ? data.error
          : {code: "http_" + response.status, message: text.slice(0, 200) || response.statusText, field: null};
        return {ok: false, status: response.status, error: error};
      });
    }, function (err) {
      return {ok: false, status: 0, error: {code: "network", message: String(err), field: null}};
    });
  }

  function fieldName(field) {
    if (!field) { return ""; }
    return has("field." + field) ? t("field." + field) : field;
  }

  function errorText(error) {
    if (!error) { return ""; }
    var key = "error." + error.code;
    if (has(key)) { return t(key, {field: fieldName(error.field), message: error.message}); }
    return error.message || t("error.unknown", {message: error.code});
  }

  /* Upload the chosen photos one by one (POST /api/v1/media); resolve to {ok, urls} or to the
   * first error. ``done`` remembers what was sent already, so correcting a form and sending it
   * again does not upload (and spend the rate limit on) the same photos twice. */
  function uploadPhotos(files, done, options) {
    var urls = [];
    return Array.prototype.reduce.call(files || [], function (chain, file) {
      return chain.then(function (failed) {
        if (failed) { return failed; }
        var key = [file.name, file.size, file.lastModified].join("|");
        if (done[key]) { urls.push(done[key]); return null; }
        return api("POST", "/api/v1/media", {file: file, token: (options || {}).token}).then(function (res) {
          if (!res.ok) { return res; }
          done[key] = res.data.media_url;
          urls.push(res.data.media_url);
          return null;
        });
      });
    }, Promise.resolve(null)).then(function (failed) {
      return failed || {ok: true, urls: urls};
    });
  }

  // --- field errors next to the field -------------------------------------------------------
  function errorSlot(form, field) {
    if (field) {
      var slot = form.querySelector('[data-error-for~="' + field.replace(/"/g, "") + '"]');
      if (slot) { return slot; }
    }
    return form.querySelector('[data-error-for~="_form"]');
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      slot.textContent = "";
      slot.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  /* Show the API's error next to the field at fault (or at the top of the form) and move the
   * focus there, so a screen reader announces it. */
  function showError(form, error) {
    clearErrors(form);
    var slot = errorSlot(form, error.field);
    if (!slot) { window.alert(errorText(error)); return; }
    slot.textContent = errorText(error);
    slot.hidden = false;
    slot.setAttribute("data-code", error.code || "");
    slot.setAttribute("data-field-name", error.field || "");
    slot.setAttribute("data-message", error.message || "");
    var control = error.field ? form.querySelector('[data-field="' + error.field.replace(/"/g, "") + '"]') : null;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      if (typeof control.focus === "function") { control.focus(); }
    }
  }

  // --- the staff token (this tab only) -------------------------------------------------------
  function getToken() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }
  function setToken(value) {
    try { window.sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* tab only */ }
  }
  function clearToken() {
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing */ }
  }

  // --- staff pages: sign in with a token, sign out --------------------------------------------
  // Shows the sign-in form or the workspace; ``load`` runs once signed in, ``forget`` clears the
  // page's own state on sign-out. Returns ``show(on)`` for pages that must sign out on a 401.
  function staffSession(load, forget) {
    function byId(id) { return document.getElementById(id); }
    function show(on) { byId("signin").hidden = on; byId("workspace").hidden = !on; }
    byId("signin").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = byId("token").value.trim();
      if (!token) {
        showError(byId("signin"), {code: "missing_field", field: "Authorization", message: "token is required"});
        return;
      }
      setToken(token);
      byId("token").value = "";
      show(true);
      load();
    });
    byId("signout").addEventListener("click", function () {
      clearToken(); forget(); show(false); byId("token").focus();
    });
    if (getToken()) { show(true); load(); } else { show(false); }
    return show;
  }

  // --- DOM building without innerHTML ------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) { return; }
        if (name === "text") { node.textContent = value; }
        else if (name === "className") { node.className = value; }
        else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), value); }
        else { node.setAttribute(name, value === true ? "" : value); }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
    return node;
  }

  /* Options after the first (the "none"/"all" choice) from codes, named in the current
   * language; the choice survives a language switch. */
  function fillSelect(select, codes, name) {
    var chosen = select.value;
    while (select.options.length > 1) { select.remove(1); }
    codes.forEach(function (code) {
      select.appendChild(el("option", {value: code, text: name(code)}));
    });
    select.value = chosen;
  }

  /* Errors already on screen stay there, in the new language. */
  function retranslateErrors() {
    document.querySelectorAll("[data-error-for]").forEach(function (slot) {
      if (!slot.hidden && slot.getAttribute("data-code")) {
        slot.textContent = errorText({code: slot.getAttribute("data-code"),
          field: slot.getAttribute("data-field-name") || null,
          message: slot.getAttribute("data-message")});
      }
    });
  }

  /* Once a person edits a field that was at fault, its error goes away. */
  function onEdit(event) {
    var control = event.target;
    var field = control && control.getAttribute && control.getAttribute("data-field");
    var form = control && control.form;
    if (!field || !form) { return; }
    control.removeAttribute("aria-invalid");
    var slot = form.querySelector('[data-error-for~="' + field.replace(/"/g, "") + '"]');
    if (slot && slot.getAttribute("data-field-name") === field) { slot.textContent = ""; slot.hidden = true; }
  }

  /* Set up the header's language switch and translate the page. */
  function init() {
    document.addEventListener("eg:lang", retranslateErrors);
    document.addEventListener("input", onEdit);
    document.addEventListener("change", onEdit);
    var button = document.getElementById("lang-switch");
    if (button) {
      button.addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });
    }
    applyLang();
  }

  return {
    t: t, lang: function () { return lang; }, setLang: setLang, applyI18n: applyI18n, init: init,
    category: category, region: region, lookup: lookup,
    fmtTime: fmtTime, duration: duration, deadlineState: deadlineState,
    uuid: uuid, api: api, uploadPhotos: uploadPhotos, errorText: errorText, fieldName: fieldName,
    showError: showError, clearErrors: clearErrors,
    getToken: getToken, setToken: setToken, clearToken: clearToken, staffSession: staffSession,
    el: el, clear: clear, fillSelect: fillSelect
  };
}());
