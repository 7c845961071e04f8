// Refresh "Waiting for embedding" in place: rows/elements with data-document and
// data-status="pending" inside [data-status-url] are polled until the worker has embedded them.
(function () {
  "use strict";
  const FIRST_DELAY_MS = 1500;
  const MAX_DELAY_MS = 10000;
  const GIVE_UP_MS = 30 * 60 * 1000;

  function pendingIn(root) {
    return Array.from(root.querySelectorAll('[data-document][data-status="pending"]'));
  }

  function apply(element, doc) {
    element.dataset.status = doc.status;
    element.querySelectorAll("[data-field]").forEach((cell) => {
      const value = doc[cell.dataset.field];
      cell.textContent = value === "" || value === null || value === undefined ? "—" : String(value);
      if (cell.dataset.field === "status_label") cell.className = "status status-" + doc.status;
    });
    if (doc.status !== "pending") {
      element.querySelectorAll("[data-when-embedded]").forEach((note) => { note.hidden = false; });
    }
  }

  function watch(root) {
    const url = root.dataset.statusUrl;
    const started = Date.now();
    let delay = FIRST_DELAY_MS;

    async function poll() {
      const waiting = pendingIn(root);
      if (!waiting.length || Date.now() - started > GIVE_UP_MS) return;
      const ids = waiting.map((el) => el.dataset.document).join(",");
      try {
        const response = await fetch(url + "?ids=" + encodeURIComponent(ids), {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) {
          const body = await response.json();
          const byId = new Map(body.documents.map((doc) => [String(doc.id), doc]));
          waiting.forEach((el) => { const doc = byId.get(el.dataset.document); if (doc) apply(el, doc); });
        }
      } catch (error) {
        // offline or the server restarting: try again later
      }
      delay = Math.min(delay * 1.25, MAX_DELAY_MS);
      setTimeout(poll, delay);
    }
    setTimeout(poll, delay);
  }

  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
