/* The supervisors' live dashboard: bar charts drawn as SVG, refreshed every five seconds. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };

  function bars(svg, rows, color) {
    var width = 640, height = 200, pad = 28;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.textContent = "";
    var max = Math.max(1, Math.max.apply(null, rows.map(function (r) { return r.value; })));
    var step = (width - pad) / Math.max(1, rows.length);
    rows.forEach(function (row, i) {
      var h = (height - 2 * pad) * row.value / max;
      var rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", pad + i * step + step * 0.15);
      rect.setAttribute("y", height - pad - h);
      rect.setAttribute("width", step * 0.7);
      rect.setAttribute("height", Math.max(h, 0.5));
      rect.setAttribute("fill", color);
      var title = document.createElementNS(NS, "title");
      title.textContent = row.label + ": " + row.value;
      rect.appendChild(title);
      svg.appendChild(rect);
      label(svg, pad + i * step + step / 2, height - 8, row.label, rows.length > 12 ? 9 : 12);
      if (row.value) label(svg, pad + i * step + step / 2, height - pad - h - 4, String(row.value), 11);
    });
  }
  function label(svg, x, y, text, size) {
    var t = document.createElementNS(NS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("font-size", size);
    t.setAttribute("text-anchor", "middle"); t.setAttribute("fill", "#24292f");
    t.textContent = text;
    svg.appendChild(t);
  }
  function draw(f) {
    $("agents-online").textContent = f.agents.online;
    $("agents-busy").textContent = f.agents.busy;
    $("chats").textContent = f.agents.chats;
    $("capacity").textContent = Math.max(0, f.agents.capacity - f.agents.chats);
    bars($("chart-waiting"), f.queues.map(function (q) { return { label: q.name, value: q.waiting }; }), "#0969da");
    bars($("chart-oldest"), f.queues.map(function (q) { return { label: q.name, value: Math.round(q.oldest_wait_seconds / 60) }; }), "#bf8700");
    bars($("chart-hourly"), f.handoffs_per_hour.map(function (h) { return { label: h.hour.slice(0, 2), value: h.count }; }), "#8250df");
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  }
  draw(JSON.parse($("dashboard-figures").textContent));
  setInterval(function () {
    fetch("/console/dashboard/data", { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(draw).catch(function () {});
  }, 5000);
})();
