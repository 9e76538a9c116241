// The console's only script: keeps the live part of a page current and the
// countdowns ticking. Every page works without it (forms post, pages reload).
"use strict";

(function () {
  const body = document.body;
  const zh = document.documentElement.lang !== "en";

  // Countdowns (data-deadline) and ages (data-since), in ms since the epoch.
  function two(n) { return String(n).padStart(2, "0"); }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      const left = Math.round((Number(el.dataset.deadline) - now) / 1000);
      if (left <= 0) {
        el.textContent = zh ? "已超时" : "overdue";
        el.classList.add("overdue");
      } else {
        el.textContent = Math.floor(left / 60) + ":" + two(left % 60) + (zh ? " 剩余" : " left");
      }
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      const m = Math.max(0, Math.floor((now - Number(el.dataset.since)) / 60000));
      const h = Math.floor(m / 60);
      el.textContent = h > 0 ? (h + (zh ? " 小时 " : " h ") + (m % 60) + (zh ? " 分" : " min"))
                             : (m + (zh ? " 分钟" : " min"));
    });
  }
  tick();
  setInterval(tick, 1000);

  // A short two-tone chime for a new offer (Web Audio: no file to load).
  // Browsers let a page sound only after the person has used it: the
  // context is made, and resumed, on the first click or key.
  let ctx = null;
  function audio() {
    if (!ctx && (window.AudioContext || window.webkitAudioContext)) {
      ctx = new (window.AudioContext || window.webkitAudioContext)();
    }
    if (ctx && ctx.state === "suspended") { ctx.resume(); }
    return ctx;
  }
  ["click", "keydown", "touchstart"].forEach(function (kind) {
    document.addEventListener(kind, audio, { once: true, capture: true });
  });
  function chime() {
    try {
      if (!audio()) { return; }
      [880, 660].forEach(function (freq, i) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.frequency.value = freq;
        gain.gain.value = 0.2;
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + i * 0.25);
        osc.stop(ctx.currentTime + i * 0.25 + 0.2);
      });
    } catch (e) { /* no audio: the page still updates */ }
  }

  if (body.dataset.live !== "1" || !window.EventSource) { return; }
  // Someone typing in a form of the live part keeps what they typed: the
  // refresh waits until they submit or leave the field empty.
  const liveRoot = document.getElementById("live");
  let editing = false;
  if (liveRoot) {
    liveRoot.addEventListener("input", function (e) {
      editing = e.target.value !== "" && e.target.type !== "hidden";
    });
    liveRoot.addEventListener("change", function () { editing = true; });
  }
  let refreshing = false, again = false, waiting = false;
  function refresh() {
    if (editing) {
      body.dataset.paused = "1";
      if (!waiting) {
        waiting = true;
        setTimeout(function () { waiting = false; refresh(); }, 1000);
      }
      return;
    }
    body.dataset.paused = "0";
    if (refreshing) { again = true; return; }
    refreshing = true;
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        const live = document.getElementById("live");
        if (html !== null && live) {
          live.innerHTML = html;
          body.dataset.refreshed = String(Number(body.dataset.refreshed || "0") + 1);
          tick();
        }
      })
      .catch(function () { /* the next event tries again */ })
      .finally(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }
  const only = document.getElementById("events-ticket");
  const events = new EventSource(only ? "/events?ticket=" + only.dataset.ticket : "/events");
  events.addEventListener("refresh", refresh);
  events.addEventListener("offer", function () {
    chime();
    document.title = (zh ? "【新派单】" : "[New offer] ") + document.title.replace(/^(【新派单】|\[New offer\] )/, "");
    refresh();
  });
  events.addEventListener("alert", function () {
    chime();
    document.title = (zh ? "【重点督办】" : "[Major case] ") + document.title.replace(/^(【重点督办】|\[Major case\] )/, "");
    refresh();
  });
  events.addEventListener("end", function () { events.close(); window.location.reload(); });
  events.onopen = function () { body.dataset.stream = "open"; };
  // A stream refused for good (too many open tabs, say) is not retried by
  // the browser: the page then refreshes itself every 15 seconds.
  events.onerror = function () {
    if (events.readyState === EventSource.CLOSED && body.dataset.stream !== "polling") {
      body.dataset.stream = "polling";
      setInterval(refresh, 15000);
    }
  };
})();
