// The console's shell: reads who opened it from Telegram, shows the server's fragments.
// Telegram opens a Mini App with #tgWebAppData=<initData>&tgWebAppThemeParams=<JSON>;
// inside Telegram window.Telegram.WebApp may carry the same (when its script is loaded).
// The initData goes in a header on every request, never in a URL or a cookie.
(function () {
  "use strict";
  var hash = new URLSearchParams(location.hash.slice(1));
  var webApp = window.Telegram && window.Telegram.WebApp;
  var initData = (webApp && webApp.initData) || hash.get("tgWebAppData") || "";
  var view = document.getElementById("view");

  function theme() {
    var params = webApp && webApp.themeParams;
    if (!params) {
      try { params = JSON.parse(hash.get("tgWebAppThemeParams") || "{}"); } catch (e) { params = {}; }
    }
    Object.keys(params).forEach(function (key) {
      if (/^[a-z_]+$/.test(key) && /^#[0-9a-fA-F]{3,8}$/.test(params[key])) {
        document.documentElement.style.setProperty("--tg-" + key.replace(/_/g, "-"), params[key]);
      }
    });
  }

  // The fragments name paths from the console's root ("/api/…"); they are fetched
  // relative to this page, so that a proxy may serve the console under a prefix.
  function call(method, path, body) {
    path = path.replace(/^\//, "");
    var headers = { "X-Telegram-Init-Data": initData };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }

  function show(response) {
    return response.text().then(function (text) {
      view.innerHTML = text;
      view.dataset.status = String(response.status);
      window.scrollTo(0, 0);
    });
  }

  function load(path) { return call("GET", path).then(show); }

  function download(path, name) {
    return call("GET", path).then(function (response) {
      if (!response.ok) { return show(response); }
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = name;
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      });
    });
  }

  function fields(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name) { return; }
      body[input.name] = input.hasAttribute("data-int") ? Number(input.value) : input.value;
    });
    return body;
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-view], [data-post], [data-download], [data-print]");
    if (!target || target.tagName === "FORM") { return; }
    event.preventDefault();
    if (target.hasAttribute("data-view")) {
      load(target.getAttribute("data-view"));
    } else if (target.hasAttribute("data-post")) {
      target.disabled = true;
      call("POST", target.getAttribute("data-post"), JSON.parse(target.getAttribute("data-body"))).then(show);
    } else if (target.hasAttribute("data-download")) {
      download(target.getAttribute("data-download"), target.getAttribute("data-filename"));
    } else {
      window.print();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-post")) { return; }
    event.preventDefault();
    call("POST", form.getAttribute("data-post"), fields(form)).then(show);
  });

  theme();
  if (webApp) { webApp.ready(); webApp.expand(); }
  load("/api/view/home");
})();
