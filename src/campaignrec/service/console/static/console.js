// campaignrec console: draws the page's charts and runs the campaign form's live preview.
(function () {
  "use strict";

  function drawCharts() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = JSON.parse(el.getAttribute("data-chart"));
      window.Plotly.newPlot(el, spec.data, spec.layout, {
        responsive: true, displaylogo: false, displayModeBar: false,
      }).then(function () { el.setAttribute("data-drawn", "1"); });
    });
  }

  // a chart with data-live is redrawn from its URL every 10 seconds
  function liveCharts() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var spec = JSON.parse(el.getAttribute("data-chart"));
      window.setInterval(function () {
        fetch(el.getAttribute("data-live"), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (!data) return;
            spec.data[0].x = data.x;
            spec.data[0].y = data.y;
            window.Plotly.react(el, spec.data, spec.layout);
            el.setAttribute("data-updated", String(Date.now()));
          })
          .catch(function () { /* keep the last figure; the next tick retries */ });
      }, 10000);
    });
  }

  // language links keep the page's other query parameters
  function languageLinks() {
    document.querySelectorAll("[data-lang-switch]").forEach(function (a) {
      var url = new URL(window.location.href);
      url.searchParams.set("lang", a.getAttribute("data-lang-switch"));
      url.searchParams.delete("done");
      a.setAttribute("href", url.pathname + url.search);
    });
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function livePreview() {
    var form = document.getElementById("campaign-form");
    var panel = document.getElementById("preview");
    if (!form || !panel) return;
    var status = document.getElementById("preview-status");
    var audience = document.getElementById("preview-audience");
    var source = document.getElementById("preview-source");
    var body = panel.querySelector("#preview-table tbody");
    var csrf = document.body.getAttribute("data-csrf");
    var timer = null;
    var seq = 0;

    function show(data) {
      status.textContent = "";
      status.classList.remove("bad");
      audience.textContent = data.audience_size_text;
      audience.setAttribute("data-value", String(data.audience_size));
      source.textContent = data.source;
      body.textContent = "";
      data.strategies.forEach(function (s) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-strategy", s.strategy);
        [s.label, s.reach, s.expected_cost, s.incremental_conversions, s.roi].forEach(function (v) {
          tr.appendChild(cell(v));
        });
        body.appendChild(tr);
      });
      panel.setAttribute("data-state", "ready");
    }

    function fail(message) {
      status.textContent = message;
      status.classList.add("bad");
      audience.textContent = "—";
      audience.removeAttribute("data-value");
      body.textContent = "";
      panel.setAttribute("data-state", "error");
    }

    function run() {
      var mine = ++seq;
      status.textContent = panel.getAttribute("data-loading");
      status.classList.remove("bad");
      panel.setAttribute("data-state", "loading");
      fetch(panel.getAttribute("data-url") + window.location.search, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
        credentials: "same-origin",
      }).then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      }).then(function (res) {
        if (mine !== seq) return; // a newer edit is in flight
        if (res.ok && res.data.ok) show(res.data);
        else fail((res.data.error && res.data.error.message) || "error");
      }).catch(function (err) {
        if (mine === seq) fail(String(err));
      });
    }

    function soon() {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(run, 300);
    }
    // the timing suggestion's buttons fill the window (and so re-plan the preview)
    document.querySelectorAll("[data-use-window]").forEach(function (b) {
      b.addEventListener("click", function () {
        form.elements.namedItem("start_time").value = b.getAttribute("data-start");
        form.elements.namedItem("end_time").value = b.getAttribute("data-end");
        soon();
      });
    });
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    run();
  }

  document.addEventListener("DOMContentLoaded", function () {
    languageLinks();
    drawCharts();
    liveCharts();
    livePreview();
  });
})();
