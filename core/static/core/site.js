// Strata: small progressive enhancements; every page works without them.
document.documentElement.classList.add("js");

// A <select data-autosubmit> submits its form when changed (the workspace switcher).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.requestSubmit();
});

// A link to an element inside a closed <details> (e.g. a search hit's #chunk-12) opens it.
function openTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  const details = target && target.closest("details:not([open])");
  if (details) {
    details.open = true;
    target.scrollIntoView();
  }
}
window.addEventListener("hashchange", openTarget);
document.addEventListener("DOMContentLoaded", openTarget);
