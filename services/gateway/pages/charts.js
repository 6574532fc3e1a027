/* envgrid pages: small SVG charts, no library. Every data mark is a <path> with a class
 * (bar, point, line, cell) and a <title>, so charts can be read by screen readers and counted
 * by tests. Colours are SVG attributes or CSS classes (the CSP allows no inline style). */
"use strict";

var EGChart = (function () {
  var NS = "http://www.w3.org/2000/svg";

  function node(tag, attrs, text) {
    var n = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) { n.setAttribute(k, attrs[k]); }
    });
    if (text !== undefined && text !== null) { n.textContent = text; }
    return n;
  }

  function titled(mark, text) { mark.appendChild(node("title", {}, text)); return mark; }

  function root(holder, w, h, label) {
    while (holder.firstChild) { holder.removeChild(holder.firstChild); }
    var svg = node("svg", {viewBox: "0 0 " + w + " " + h, class: "chart-svg", role: "img",
      "aria-label": label, preserveAspectRatio: "xMidYMid meet"});
    svg.appendChild(node("title", {}, label));
    holder.appendChild(svg);
    return svg;
  }

  /* Charts are drawn at the width they are shown at, so text keeps its size on a phone. */
  function widthOf(holder) {
    return Math.round(Math.max(300, Math.min(960, holder.clientWidth || 640)));
  }

  /* Every k-th category label, so that labels about ``each`` units wide do not collide. */
  function labelStep(n, span, each) { return Math.max(1, Math.ceil(n * each / Math.max(1, span))); }

  function rect(x, y, w, h) {
    return "M" + x.toFixed(1) + " " + y.toFixed(1) + "h" + w.toFixed(1) + "v" + h.toFixed(1) +
      "h" + (-w).toFixed(1) + "Z";
  }

  function dot(x, y, r) {
    return "M" + (x - r).toFixed(1) + " " + y.toFixed(1) + "a" + r + " " + r + " 0 1 0 " + (2 * r) +
      " 0a" + r + " " + r + " 0 1 0 " + (-2 * r) + " 0Z";
  }

  function niceMax(v) {
    if (!(v > 0)) { return 1; }
    var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * p >= v) { return steps[i] * p; } }
    return 10 * p;
  }

  function legend(holder, series) {
    var list = document.createElement("ul");
    list.className = "chart-legend";
    series.forEach(function (s) {
      var item = document.createElement("li");
      var key = document.createElement("span");
      key.className = "key " + (s.className || "");
      item.appendChild(key);
      item.appendChild(document.createTextNode(s.name));
      list.appendChild(item);
    });
    holder.appendChild(list);
  }

  /* Horizontal bars, one a row: items [{label, value, className, title}], max (default: the
   * largest value, rounded up), format(value). Tall enough for every row; fits a phone. */
  function bars(holder, opts) {
    var items = opts.items, W = widthOf(holder), row = 30, right = 56, top = 8;
    var left = Math.round(Math.min(150, W * 0.36));
    var H = top * 2 + Math.max(1, items.length) * row;
    var svg = root(holder, W, H, opts.label);
    var max = opts.max || niceMax(Math.max.apply(null, items.map(function (i) { return i.value; }).concat([0])));
    var span = W - left - right;
    svg.appendChild(node("path", {class: "axis", d: "M" + left + " " + top + "V" + (H - top)}));
    items.forEach(function (item, i) {
      var y = top + i * row;
      var w = Math.max(1, span * Math.min(item.value, max) / max);
      svg.appendChild(node("text", {x: left - 8, y: y + row / 2 + 5, "text-anchor": "end",
        class: "label"}, item.label));
      svg.appendChild(titled(node("path", {class: "bar " + (item.className || ""),
        d: rect(left, y + 5, w, row - 10), "data-value": item.value}), item.title || item.label));
      svg.appendChild(node("text", {x: left + w + 6, y: y + row / 2 + 5, class: "value"},
        opts.format ? opts.format(item.value) : String(item.value)));
    });
    if (opts.legend) { legend(holder, opts.legend); }
    return svg;
  }

  /* Grouped columns over categories: categories [label], series [{name, values, className}]. */
  function columns(holder, opts) {
    var W = widthOf(holder), H = 260, left = 40, right = 10, top = 12, bottom = 34;
    var svg = root(holder, W, H, opts.label);
    var all = [];
    opts.series.forEach(function (s) { all = all.concat(s.values); });
    var max = niceMax(Math.max.apply(null, all.concat([0])));
    var n = opts.categories.length, band = (W - left - right) / Math.max(1, n);
    var inner = band * 0.8, bw = inner / opts.series.length, plotH = H - top - bottom;
    var every = labelStep(n, W - left - right, opts.labelWidth || 44);
    grid(svg, max, left, W - right, top, plotH);
    opts.categories.forEach(function (label, c) {
      var x0 = left + c * band + band * 0.1;
      opts.series.forEach(function (s, k) {
        var v = s.values[c] || 0, h = plotH * v / max;
        svg.appendChild(titled(node("path", {class: "bar " + s.className,
          d: rect(x0 + k * bw, top + plotH - h, Math.max(1, bw - 1), h), "data-value": v}),
          label + " · " + s.name + ": " + v));
      });
      if ((n - 1 - c) % every === 0) {
        svg.appendChild(node("text", {x: x0 + inner / 2, y: H - bottom + 16, "text-anchor": "middle",
          class: "label"}, label));
      }
    });
    legend(holder, opts.series);
    return svg;
  }

  /* Lines with points over categories, values 0..max (default 1, shown as %); a null value
   * leaves a gap and no point. */
  function lines(holder, opts) {
    var W = widthOf(holder), H = 240, left = 44, right = 10, top = 12, bottom = 34;
    var svg = root(holder, W, H, opts.label);
    var max = opts.max || 1, n = opts.categories.length, plotH = H - top - bottom;
    var step = (W - left - right) / Math.max(1, n), every = labelStep(n, W - left - right, 44);
    grid(svg, max, left, W - right, top, plotH, opts.format);
    function x(c) { return left + step * (c + 0.5); }
    function y(v) { return top + plotH - plotH * Math.min(v, max) / max; }
    opts.series.forEach(function (s) {
      var d = "", pen = false;
      s.values.forEach(function (v, c) {
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? "L" : "M") + x(c).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      if (d) { svg.appendChild(node("path", {class: "line " + s.className, d: d})); }
      s.values.forEach(function (v, c) {
        if (v === null || v === undefined) { return; }
        svg.appendChild(titled(node("path", {class: "point " + s.className, d: dot(x(c), y(v), 4),
          "data-value": v}), opts.categories[c] + " · " + s.name + ": " +
          (opts.format ? opts.format(v) : v)));
      });
    });
    opts.categories.forEach(function (label, c) {
      if ((n - 1 - c) % every === 0) {
        svg.appendChild(node("text", {x: x(c), y: H - bottom + 16, "text-anchor": "middle",
          class: "label"}, label));
      }
    });
    legend(holder, opts.series);
    return svg;
  }

  function grid(svg, max, x0, x1, top, plotH, format) {
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4, y = top + plotH - plotH * i / 4;
      svg.appendChild(node("path", {class: i ? "gridline" : "axis", d: "M" + x0 + " " + y.toFixed(1) + "H" + x1}));
      svg.appendChild(node("text", {x: x0 - 4, y: y + 4, "text-anchor": "end", class: "tick"},
        format ? format(v) : String(Math.round(v * 100) / 100)));
    }
  }

  /* A choropleth of GeoJSON polygons: value(feature) -> number or null, colour from light to
   * dark over 0..max; label(feature) for the tooltip. Longitude is scaled by cos(latitude) so
   * shapes keep their proportions. */
  var RAMP = ["#e5f5e0", "#a1d99b", "#41ab5d", "#006d2c", "#00441b"];

  function map(holder, opts) {
    var features = opts.features.filter(function (f) { return f.geometry; });
    var rings = [];
    features.forEach(function (f) {
      var g = f.geometry;
      var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      polys.forEach(function (p) { p.forEach(function (r) { rings.push(r); }); });
    });
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    rings.forEach(function (r) {
      r.forEach(function (pt) {
        minX = Math.min(minX, pt[0]); maxX = Math.max(maxX, pt[0]);
        minY = Math.min(minY, pt[1]); maxY = Math.max(maxY, pt[1]);
      });
    });
    var k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    var W = widthOf(holder), pad = 10, spanX = Math.max(1e-9, (maxX - minX) * k), spanY = Math.max(1e-9, maxY - minY);
    var scale = (W - 2 * pad) / spanX, H = Math.round(spanY * scale + 2 * pad);
    var svg = root(holder, W, H, opts.label);
    var values = features.map(opts.value);
    var max = opts.max || Math.max.apply(null, values.filter(function (v) { return v !== null; }).concat([0]));
    function colour(v) {
      if (v === null || v === undefined) { return "#f0f0f0"; }
      var i = max > 0 ? Math.min(RAMP.length - 1, Math.floor((v / max) * (RAMP.length - 1) + 1e-9)) : 0;
      return RAMP[i];
    }
    features.forEach(function (f, i) {
      var g = f.geometry;
      var polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      var d = "";
      polys.forEach(function (p) {
        p.forEach(function (r) {
          r.forEach(function (pt, j) {
            d += (j ? "L" : "M") + (pad + (pt[0] - minX) * k * scale).toFixed(1) + " " +
              (pad + (maxY - pt[1]) * scale).toFixed(1);
          });
          d += "Z";
        });
      });
      svg.appendChild(titled(node("path", {class: "cell" + (values[i] === null ? " nodata" : ""),
        d: d, fill: colour(values[i]), "data-code": f.properties.code,
        "data-value": values[i] === null ? "" : values[i]}), opts.label_of(f, values[i])));
    });
    var scaleList = document.createElement("ul");
    scaleList.className = "chart-legend ramp";
    [null].concat([0, 1, 2, 3, 4]).forEach(function (step) {
      var item = document.createElement("li");
      var key = node("svg", {width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true"});
      key.appendChild(node("path", {d: rect(0, 0, 14, 14), fill: step === null ? "#f0f0f0" : RAMP[step]}));
      item.appendChild(key);
      var text = step === null ? opts.noData
        : (opts.format ? opts.format(max * step / 4) : String(Math.round(max * step / 4)));
      item.appendChild(document.createTextNode(text));
      scaleList.appendChild(item);
    });
    holder.appendChild(scaleList);
    return svg;
  }

  return {bars: bars, columns: columns, lines: lines, map: map};
}());
