// Keeps the dashboard's counts and ops/s chart current. Everything else on the console is plain
// server-rendered HTML; this script only writes numbers and chart points it fetched as JSON, so
// no user data passes through it.
"use strict";
(function () {
  const line = document.getElementById("ops-line");
  if (!line) return;
  const fields = {
    sessions: "live-sessions",
    keys: "live-keys",
    connections: "live-connections",
    ops_per_sec: "live-ops",
  };
  async function refresh() {
    try {
      const reply = await fetch("/api/live", { credentials: "same-origin", cache: "no-store" });
      if (!reply.ok) return;
      const live = await reply.json();
      for (const [field, id] of Object.entries(fields)) {
        const el = document.getElementById(id);
        if (el) el.textContent = String(live[field]);
      }
      line.setAttribute("points", String(live.ops_points));
      const top = document.getElementById("ops-top");
      if (top) top.textContent = live.ops_top + "/s";
    } catch (_) {
      // The server may be restarting; the next tick tries again.
    }
  }
  setInterval(refresh, 2000);
})();
