// GraphiQL for the portal API, served with its scripts by the API itself (no CDN), with a bar
// to sign in (the `login` mutation) or paste an access token. Every request GraphiQL makes,
// the schema's introspection included, carries that token as `Authorization: Bearer …`, so
// a signed-in caller explores exactly the schema of what it may do. The session (tokens) is
// kept in sessionStorage: it ends with the tab. No inline script, no eval (the page's CSP).
(function () {
  "use strict";

  const STORAGE_KEY = "portal.graphiql.session";
  const REFRESH_BEFORE_MS = 60 * 1000; // refresh a signed-in token this long before it expires
  const endpoint = new URL(window.location.pathname, window.location.origin).toString();
  const container = document.getElementById("graphiql");
  const bar = document.getElementById("portal-bar");
  const signInForm = document.getElementById("portal-sign-in");
  const tokenForm = document.getElementById("portal-token");
  const who = document.getElementById("portal-who");
  const signOutButton = document.getElementById("portal-sign-out");
  const message = document.getElementById("portal-message");

  const LOGIN = `mutation PortalSignIn($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken expiresAt userErrors { code message } }
}`;
  const REFRESH = `mutation PortalRefresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken expiresAt userErrors { code message } }
}`;
  const LOGOUT = `mutation PortalSignOut($input: LogoutInput!) {
  logout(input: $input) { revoked }
}`;
  const WHO = "query PortalWho { viewer { authenticated user { email } } }";
  const DEFAULT_QUERY = `# GraphiQL for the Self-Service Portal API.
#
# Sign in above (or paste an access token): every
# request then carries it, and the schema shown
# (autocompletion, the docs) is that of what you may do.
# Run with Ctrl-Enter.

{
  viewer {
    authenticated
    user { email }
  }
}
`;

  function say(text, kind) {
    message.textContent = text || "";
    message.dataset.kind = kind || "error";
  }

  function notice(html) {
    container.innerHTML = "";
    const paragraph = document.createElement("p");
    paragraph.className = "portal-notice";
    paragraph.innerHTML = html;
    container.appendChild(paragraph);
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    notice(
      "GraphiQL's scripts did not load from this server. Install them where the API runs with " +
        "<code>make install</code> (or <code>npm ci --prefix web/graphiql</code>), then reload.",
    );
    return;
  }

  // --- the session: {accessToken, refreshToken, expiresAt, label} ----------------------------

  function loadSession() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) || "null");
      return stored && typeof stored.accessToken === "string" ? stored : null;
    } catch (_error) {
      return null;
    }
  }

  function storeSession(value) {
    session = value;
    try {
      if (value) {
        window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
      } else {
        window.sessionStorage.removeItem(STORAGE_KEY);
      }
    } catch (_error) {
      // storage refused (private mode): the session lasts as long as the page
    }
  }

  let session = loadSession();
  let refreshing = null;

  async function post(query, variables, token) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    const response = await window.fetch(endpoint, {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables || {} }),
      credentials: "same-origin",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_error) {
      throw new Error("The server answered " + response.status + " without a GraphQL result.");
    }
    return body;
  }

  function firstError(body, field) {
    if (body && Array.isArray(body.errors) && body.errors.length) {
      return body.errors[0].message || "The request failed.";
    }
    const payload = body && body.data && body.data[field];
    if (!payload) {
      return "The server returned no " + field + " result.";
    }
    if (Array.isArray(payload.userErrors) && payload.userErrors.length) {
      return payload.userErrors[0].message || payload.userErrors[0].code;
    }
    return null;
  }

  function fromPayload(payload, label) {
    return {
      accessToken: payload.accessToken,
      refreshToken: payload.refreshToken || null,
      expiresAt: payload.expiresAt || null,
      label: label,
    };
  }

  // When a JWT says it expires (claim `exp`), as an ISO date; null otherwise.
  function tokenExpiry(token) {
    try {
      const claims = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const exp = JSON.parse(window.atob(claims)).exp;
      return typeof exp === "number" ? new Date(exp * 1000).toISOString() : null;
    } catch (_error) {
      return null;
    }
  }

  // A signed-in session is refreshed shortly before its access token expires (one refresh at a
  // time); a pasted token is used as it is (the server treats an expired one as no token).
  async function currentToken() {
    if (!session) {
      return null;
    }
    const expires = session.expiresAt ? Date.parse(session.expiresAt) : NaN;
    if (!session.refreshToken) {
      if (expires <= Date.now()) {
        say("The pasted token has expired: requests go out as anonymous. Sign in or paste another.");
      }
      return session.accessToken;
    }
    if (!(expires - Date.now() < REFRESH_BEFORE_MS)) {
      return session.accessToken;
    }
    if (!refreshing) {
      const spent = session;
      refreshing = post(REFRESH, { input: { refreshToken: spent.refreshToken } })
        .then(function (body) {
          const problem = firstError(body, "refreshToken");
          if (problem) {
            storeSession(null);
            showSession();
            say("Your session ended (" + problem + "). Sign in again.");
            return;
          }
          storeSession(fromPayload(body.data.refreshToken, spent.label));
        })
        .catch(function (error) {
          say("Could not refresh the session: " + error.message);
        })
        .finally(function () {
          refreshing = null;
        });
    }
    await refreshing;
    return session ? session.accessToken : null;
  }

  // --- GraphiQL --------------------------------------------------------------------------------

  // Every HTTP request of GraphiQL (queries, mutations, the schema's introspection) goes out
  // with the session's token, unless the Headers tab sets an Authorization header itself.
  async function authorizedFetch(input, init) {
    const options = Object.assign({}, init || {});
    const headers = new Headers(options.headers || {});
    if (!headers.has("authorization")) {
      const token = await currentToken();
      if (token) {
        headers.set("Authorization", "Bearer " + token);
      }
    }
    options.headers = headers;
    options.credentials = "same-origin";
    return window.fetch(input, options);
  }

  function subscriptionUrl() {
    const url = new URL(endpoint);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  const fetcher = window.GraphiQL.createFetcher({
    url: endpoint,
    fetch: authorizedFetch,
    enableIncrementalDelivery: false,
    subscriptionUrl: subscriptionUrl(),
    // read when a subscription opens its WebSocket: the token goes in connection_init (an
    // Authorization header of the Headers tab replaces it, as for HTTP)
    wsConnectionParams: {
      get Authorization() {
        return session ? "Bearer " + session.accessToken : undefined;
      },
    },
  });

  const root = window.ReactDOM.createRoot(container);
  let generation = 0;

  // A new session mounts a new GraphiQL: its schema, docs explorer and autocompletion are
  // fetched again with the new token (the schema differs from one caller to another).
  function renderGraphiQL() {
    generation += 1;
    root.render(
      window.React.createElement(window.GraphiQL, {
        key: "session-" + generation,
        fetcher: fetcher,
        defaultQuery: DEFAULT_QUERY,
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
      }),
    );
  }

  // --- the bar ---------------------------------------------------------------------------------

  function showSession() {
    if (session) {
      bar.dataset.signedIn = "";
      const until =
        session.expiresAt && !session.refreshToken
          ? " (token valid until " + new Date(session.expiresAt).toLocaleTimeString() + ")"
          : "";
      who.textContent = "Signed in: " + session.label + until;
      signOutButton.hidden = false;
    } else {
      delete bar.dataset.signedIn;
      who.textContent = "Not signed in: you see the anonymous schema.";
      signOutButton.hidden = true;
    }
  }

  async function describe(token, fallback) {
    try {
      const body = await post(WHO, {}, token);
      const viewer = body && body.data && body.data.viewer;
      if (viewer && viewer.user && viewer.user.email) {
        return viewer.user.email;
      }
      if (viewer && viewer.authenticated) {
        return fallback || "a machine client";
      }
      if (viewer) {
        return null; // the server took it for no token: invalid or expired
      }
      if (body && Array.isArray(body.errors)) {
        const codes = body.errors.map(function (error) {
          return error.extensions && error.extensions.code;
        });
        if (codes.indexOf("UNAUTHENTICATED") >= 0) {
          return null;
        }
      }
    } catch (_error) {
      // the label is a convenience: the token is used all the same
    }
    return fallback || "with the token given";
  }

  function start(value) {
    storeSession(value);
    showSession();
    renderGraphiQL();
  }

  signInForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const email = signInForm.elements.email.value.trim();
    const password = signInForm.elements.password.value;
    say("Signing in…", "info");
    try {
      const body = await post(LOGIN, { input: { email: email, password: password } });
      const problem = firstError(body, "login");
      if (problem) {
        say(problem);
        return;
      }
      const payload = body.data.login;
      const label = (await describe(payload.accessToken, email)) || email;
      signInForm.reset();
      say("");
      start(fromPayload(payload, label));
    } catch (error) {
      say("Could not sign in: " + error.message);
    }
  });

  tokenForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const token = tokenForm.elements.token.value.trim().replace(/^bearer\s+/i, "");
    if (!token) {
      return;
    }
    say("Checking the token…", "info");
    const label = await describe(token, null);
    if (label === null) {
      say("The server refused this token (invalid or expired).");
      return;
    }
    tokenForm.reset();
    say("");
    start({ accessToken: token, refreshToken: null, expiresAt: tokenExpiry(token), label: label });
  });

  signOutButton.addEventListener("click", async function () {
    const ended = session;
    start(null);
    say("Signed out.", "info");
    if (ended && ended.refreshToken) {
      try {
        await post(LOGOUT, { input: { refreshToken: ended.refreshToken } }, ended.accessToken);
      } catch (_error) {
        // the access token expires on its own; the refresh token is forgotten here
      }
    }
  });

  showSession();
  renderGraphiQL();
})();
