// Live numbers for the GPU cards of the spawn page: listen to the availability
// service's server-sent events; fall back to polling its JSON snapshot every 5 s
// when the stream is not available. Never reloads the page: a choice that was
// not there when it opened (a new GPU type, a server back in service) is
// announced in the status line instead.
(function () {
  const root = document.currentScript.closest(".mlops-gpu-form");
  const config = JSON.parse(root.querySelector(".mlops-gpu-config").textContent);
  let version = config.version;

  function shown(value) {
    return value === null || value === undefined ? "?" : String(value);
  }

  function set(selector, value) {
    for (const el of root.querySelectorAll(selector)) el.textContent = value;
  }

  function forSlug(slug, role) {
    return '[data-for="' + CSS.escape(slug) + '"][data-role=' + role + "]";
  }

  // The same item as the template's server_item macro.
  function serverItem(server) {
    const text = server.unavailable
      ? server.total + " unavailable: " + server.unavailable
      : server.free + " of " + server.total + " free";
    const item = document.createElement("li");
    item.className = "mlops-gpu-server" + (server.unavailable ? " unavailable" : "");
    item.dataset.server = server.node;
    const name = document.createElement("span");
    name.className = "mlops-gpu-server-name";
    name.textContent = server.node;
    const bar = document.createElement("span");
    bar.className = "mlops-gpu-bar";
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", server.node + ": " + text);
    const free = document.createElement("span");
    free.className = "mlops-gpu-bar-free";
    free.style.width = (server.total ? (100 * server.free) / server.total : 0) + "%";
    bar.appendChild(free);
    const label = document.createElement("span");
    label.className = "mlops-gpu-server-text";
    label.dataset.role = "server-text";
    label.textContent = text;
    item.append(name, bar, label);
    return item;
  }

  function applyType(card, entry) {
    card.querySelector("[data-role=free]").textContent = shown(entry.free);
    card.querySelector("[data-role=total]").textContent = shown(entry.total);
    card.querySelector("[data-role=unavailable]").textContent = shown(entry.unavailable);
    card.querySelector("[data-role=queued]").textContent = (entry.queued || 0) + " waiting";
    card.querySelector("[data-role=servers]").replaceChildren(...(entry.servers || []).map(serverItem));
  }

  function apply(doc) {
    if (doc.version <= version) return;
    version = doc.version;
    root.dataset.version = doc.version;
    let line = doc.in_sync ? "" : "GPU availability is unknown right now; numbers will appear when the cluster answers again. ";
    if (doc.user && doc.user.cap !== null) line += "You hold " + doc.user.held_gpus + " of your " + doc.user.cap + " GPUs. ";
    let appeared = false;
    for (const row of doc.profiles) {
      const radio = root.querySelector('input[name=profile][value="' + CSS.escape(row.slug) + '"]');
      if (!radio) {
        appeared = true;
        continue;
      }
      const waits = Boolean(row.reason_code) && config.queueable.includes(row.reason_code);
      radio.disabled = Boolean(row.reason_code) && !waits;
      radio.toggleAttribute("data-waits", waits);
      set(forSlug(row.slug, "free"), shown(row.free));
      set(forSlug(row.slug, "total"), shown(row.total));
      set(forSlug(row.slug, "fits"), shown(row.fits));
      set(forSlug(row.slug, "reason"), (row.disabled_reason || "") + (waits ? " Choose it to wait in line." : ""));
    }
    if (appeared) line += "New choices are available: reload the page to see them.";
    setQueue();
    root.querySelector("[data-role=status]").textContent = line;
    for (const card of root.querySelectorAll("[data-gpu-type]")) {
      const entry = doc.gpu_types && doc.gpu_types[card.dataset.gpuType];
      if (entry) applyType(card, entry);
    }
  }

  // The chosen GPUs, if taken, wait in Kueue's line (the hub queues with Kueue).
  function setQueue() {
    const queue = root.querySelector("input[name=queue]");
    const chosen = root.querySelector("input[name=profile]:checked");
    if (queue) queue.value = chosen && chosen.hasAttribute("data-waits") ? "on" : "";
  }

  root.addEventListener("change", function (event) {
    if (event.target.name !== "profile") return;
    const option = event.target.closest("[data-slug]");
    root.querySelector("input[name=gpus]").value = option.dataset.gpus;
    setQueue();
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
