// Client search results as you type. Progressive enhancement: without this script the search is a plain GET
// form and works the same, one press of "Search" at a time.
(function () {
  const input = document.getElementById("q");
  const results = () => document.getElementById("results");
  if (!input || !results()) return;
  let timer = null;
  let asked = 0;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const url = new URL(input.form.getAttribute("action") || window.location.href, window.location.href);
      url.searchParams.set("q", input.value);
      const mine = ++asked;
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok || mine !== asked) return; // a newer search has been typed since
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("results");
      if (fresh) results().replaceWith(fresh);
      window.history.replaceState(null, "", url);
    }, 250);
  });
})();
