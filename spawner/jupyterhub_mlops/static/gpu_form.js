// Live numbers for the GPU profiles of the spawn page: listen to the
// availability service's server-sent events; fall back to polling its JSON
// snapshot every 5 s when the stream is not available. Never reloads the page.
(function () {
  const root = document.currentScript.closest(".mlops-gpu-form");
  const config = JSON.parse(root.querySelector(".mlops-gpu-config").textContent);
  let version = config.version;

  function text(el, value) {
    if (el) el.textContent = value === null || value === undefined ? "?" : String(value);
  }

  function apply(doc) {
    if (doc.version <= version) return;
    version = doc.version;
    root.dataset.version = doc.version;
    const status = root.querySelector("[data-role=status]");
    let line = doc.in_sync ? "" : "GPU availability is unknown right now; numbers will appear when the cluster answers again. ";
    if (doc.user && doc.user.cap !== null) line += "You hold " + doc.user.held_gpus + " of your " + doc.user.cap + " GPUs.";
    status.textContent = line;
    for (const row of doc.profiles) {
      const card = root.querySelector('[data-slug="' + CSS.escape(row.slug) + '"]');
      if (!card) continue;
      text(card.querySelector("[data-role=free]"), row.free);
      text(card.querySelector("[data-role=total]"), row.total);
      text(card.querySelector("[data-role=fits]"), row.fits);
      card.querySelector("[data-role=reason]").textContent = row.disabled_reason || "";
      const radio = card.querySelector("input[type=radio]");
      radio.disabled = Boolean(row.reason_code);
      card.style.opacity = row.reason_code ? ".55" : "1";
    }
  }

  root.addEventListener("change", function (event) {
    if (event.target.name !== "profile") return;
    const card = event.target.closest("[data-slug]");
    root.querySelector("input[name=gpus]").value = card.dataset.gpus;
  });

  let polling = null;
  function poll() {
    if (polling) return;
    polling = setInterval(function () {
      fetch(config.snapshot, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) { if (doc) apply(doc); })
        .catch(function () {});
    }, 5000);
  }

  if (window.EventSource) {
    const source = new EventSource(config.events, { withCredentials: true });
    source.addEventListener("snapshot", function (event) { apply(JSON.parse(event.data)); });
    source.onerror = function () { source.close(); poll(); };
  } else {
    poll();
  }
})();
