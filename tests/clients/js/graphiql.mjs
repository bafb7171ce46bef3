// GraphiQL in a real headless browser (Debian's Chromium driven by playwright-core; no browser
// is ever downloaded) against a running portal API, as offline: any request to another host is
// refused and reported.
//   (a) /graphql renders GraphiQL's editor from the server's own scripts;
//   (b) anonymous, the docs explorer lists Mutation.login;
//   (c) signs in through the page's form; the docs explorer lists Query.devices, and the
//       schema's introspection went out with the token;
//   (d) runs `{ viewer { user { email } } }` and reads the signed-in e-mail in the result;
//   (e) signs out;
//   (f) pastes a refused token, then another user's token (--token-email), which the schema's
//       introspection then carries;
//   (g) with GraphiQL's script refused, the page explains instead of "Loading…" forever.
// Usage: node graphiql.mjs --url http://127.0.0.1:8000 --email E --password P
//        [--token-email E2] [--chromium /usr/bin/chromium]
// Prints one JSON line of findings; exits 1 (printing why) on any failure.
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const TIMEOUT_MS = 20_000;

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    email: { type: "string" },
    password: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "token-email": { type: "string" },
  },
});

const base = new URL(args.url);
const findings = { ok: false, steps: {}, foreignRequests: [], pageErrors: [], consoleErrors: [] };
const introspections = []; // {authorization} of each introspection request, in order
const started = Date.now();

function step(name, since) {
  findings.steps[name] = Date.now() - since;
  return Date.now();
}

function local(url) {
  return url.protocol === "data:" || url.protocol === "blob:" || url.host === base.host;
}

async function openDocs(page) {
  const docs = page.locator(".graphiql-doc-explorer");
  if (!(await docs.isVisible())) {
    await page.getByRole("button", { name: /documentation explorer/i }).click();
  }
  await docs.waitFor();
  return docs;
}

// The docs explorer's fields of a root type (Query, Mutation), from its root page.
async function rootFields(page, typeName) {
  const docs = await openDocs(page);
  // back to the root page, whatever was open
  for (let i = 0; i < 5; i += 1) {
    const back = docs.locator(".graphiql-doc-explorer-back");
    if (!(await back.count())) break;
    await back.first().click();
  }
  await docs
    .locator(".graphiql-doc-explorer-type-name", { hasText: new RegExp(`^${typeName}$`) })
    .first()
    .click();
  await docs.locator(".graphiql-doc-explorer-title", { hasText: typeName }).waitFor();
  const names = docs.locator(".graphiql-doc-explorer-field-name");
  await names.first().waitFor();
  return names.allTextContents();
}

// An access token obtained outside the browser (as another client would hand one over).
async function signInOutside(email, password) {
  const response = await fetch(new URL("/graphql", base), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      query: "mutation ($input: LoginInput!) { login(input: $input) { accessToken } }",
      variables: { input: { email, password } },
    }),
  });
  const body = await response.json();
  if (!body.data || !body.data.login.accessToken) throw new Error(`login: ${JSON.stringify(body)}`);
  return body.data.login.accessToken;
}

async function editorValue(page, selector) {
  return page.evaluate((css) => {
    const element = document.querySelector(`${css} .CodeMirror`);
    return element && element.CodeMirror ? element.CodeMirror.getValue() : null;
  }, selector);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(TIMEOUT_MS);
    // offline: nothing may leave for another host
    await context.route(
      (url) => !local(url),
      (route) => route.abort("internetdisconnected"),
    );
    const page = await context.newPage();
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (!local(url)) findings.foreignRequests.push(request.url());
      const body = request.postData() || "";
      if (url.host === base.host && body.includes("IntrospectionQuery")) {
        introspections.push({ authorization: request.headers()["authorization"] || null });
      }
    });
    page.on("websocket", (socket) => {
      const url = new URL(socket.url());
      if (!local(url)) findings.foreignRequests.push(socket.url());
    });
    page.on("pageerror", (error) => findings.pageErrors.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") findings.consoleErrors.push(message.text());
    });

    // (a) the editor renders
    let at = Date.now();
    await page.goto(new URL("/graphql", base).toString());
    await page.locator(".graphiql-query-editor .CodeMirror").waitFor();
    at = step("editorRendered", at);

    // (b) anonymous schema
    const anonymousMutations = await rootFields(page, "Mutation");
    if (!anonymousMutations.includes("login")) {
      throw new Error(`anonymous docs explorer lacks Mutation.login: ${anonymousMutations}`);
    }
    findings.anonymousMutationFields = anonymousMutations.length;
    findings.anonymousQueryFieldNames = await rootFields(page, "Query");
    findings.anonymousIntrospections = introspections.length;
    at = step("anonymousDocs", at);

    // (c) sign in through the page's form
    const signIn = page.locator("#portal-sign-in");
    await signIn.locator("input[name=email]").fill(args.email);
    await signIn.locator("input[name=password]").fill(args.password);
    await signIn.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#portal-who", { hasText: args.email }).waitFor();
    const queryFields = await rootFields(page, "Query");
    if (!queryFields.includes("devices")) {
      throw new Error(`signed-in docs explorer lacks Query.devices: ${queryFields}`);
    }
    findings.signedInQueryFields = queryFields.length;
    findings.signedInQueryFieldNames = queryFields;
    const signedIn = introspections.slice(findings.anonymousIntrospections);
    if (!signedIn.length || !signedIn.every((seen) => /^Bearer \S+$/.test(seen.authorization))) {
      throw new Error(`introspection after sign-in without the token: ${JSON.stringify(signedIn)}`);
    }
    if (introspections.slice(0, findings.anonymousIntrospections).some((s) => s.authorization)) {
      throw new Error("anonymous introspection carried a token");
    }
    findings.stored = await page.evaluate(() =>
      Boolean(window.sessionStorage.getItem("portal.graphiql.session")),
    );
    at = step("signedInDocs", at);

    // (d) a query runs with the token
    await page.evaluate(() => {
      const element = document.querySelector(".graphiql-query-editor .CodeMirror");
      element.CodeMirror.setValue("{ viewer { user { email } } }");
    });
    await page.locator(".graphiql-execute-button").click();
    await page.waitForFunction(
      (email) => {
        const element = document.querySelector(".graphiql-response .CodeMirror");
        return Boolean(element && element.CodeMirror && element.CodeMirror.getValue().includes(email));
      },
      args.email,
    );
    findings.result = JSON.parse(await editorValue(page, ".graphiql-response"));
    at = step("queryRan", at);

    // (e) sign out: anonymous again, nothing kept
    await page.locator("#portal-sign-out").click();
    await page.locator("#portal-who", { hasText: "Not signed in" }).waitFor();
    findings.storedAfterSignOut = await page.evaluate(() =>
      Boolean(window.sessionStorage.getItem("portal.graphiql.session")),
    );
    at = step("signedOut", at);

    // (f) a pasted token: refused when the server does not take it, used when it does
    if (args["token-email"]) {
      const tokenForm = page.locator("#portal-token");
      await tokenForm.locator("input[name=token]").fill("not-a-token");
      await tokenForm.getByRole("button", { name: "Use token" }).click();
      await page.locator("#portal-message", { hasText: "refused" }).waitFor();
      const token = await signInOutside(args["token-email"], args.password);
      await tokenForm.locator("input[name=token]").fill(token);
      await tokenForm.getByRole("button", { name: "Use token" }).click();
      await page.locator("#portal-who", { hasText: args["token-email"] }).waitFor();
      const fields = await rootFields(page, "Query");
      findings.pastedTokenQueryFields = fields.length;
      findings.pastedTokenQueryFieldNames = fields;
      const last = introspections[introspections.length - 1];
      if (last.authorization !== `Bearer ${token}`) {
        throw new Error("introspection after pasting a token did not carry it");
      }
      at = step("pastedToken", at);
    }

    // (g) GraphiQL's bundle not reaching the browser: a message, not "Loading…" forever
    const broken = await context.newPage();
    await broken.route("**/graphiql/graphiql.js*", (route) => route.abort("failed"));
    await broken.goto(new URL("/graphql", base).toString());
    await broken.locator(".portal-notice", { hasText: "did not load" }).waitFor();
    step("missingScriptExplained", at);

    await context.close();
  } finally {
    await browser.close();
  }
  findings.totalMs = Date.now() - started;
  findings.ok = true;
}

try {
  await main();
  console.log(JSON.stringify(findings));
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  console.log(JSON.stringify(findings));
  process.exit(1);
}
