// Standard JavaScript clients against a running portal API:
//   (a) signs in over HTTP (or uses the token given),
//   (b) pages the devices with Apollo Client (InMemoryCache + relayStylePagination, fetchMore)
//       and checks the cache's merged list against a single-page read,
//   (c) subscribes to ticketUpdated with graphql-ws (graphql-transport-ws), makes an event
//       with an HTTP mutation and waits for it.
// Usage: node run.mjs --url http://127.0.0.1:8000 [--token T | --email E --password P]
//        [--agent-token T | --agent-email E] (env: PORTAL_URL, PORTAL_TOKEN, PORTAL_EMAIL,
//        PORTAL_PASSWORD, PORTAL_AGENT_TOKEN, PORTAL_AGENT_EMAIL).
// Prints one JSON line of findings; exits 1 (printing why) on any failure.
import { parseArgs } from "node:util";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const PAGE = 25;
const TIMEOUT_MS = 20_000;

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: process.env.PORTAL_URL },
    token: { type: "string", default: process.env.PORTAL_TOKEN },
    email: { type: "string", default: process.env.PORTAL_EMAIL },
    password: { type: "string", default: process.env.PORTAL_PASSWORD },
    "agent-token": { type: "string", default: process.env.PORTAL_AGENT_TOKEN },
    "agent-email": { type: "string", default: process.env.PORTAL_AGENT_EMAIL },
  },
});

const LOGIN = gql`
  mutation Login($input: LoginInput!) {
    login(input: $input) { accessToken userErrors { code message } }
  }
`;

const DEVICES = gql`
  query Devices($first: Int, $after: String) {
    devices(first: $first, after: $after) {
      totalCount
      edges { cursor node { id serialNumber status contract { active } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const CREATE_TICKET = gql`
  mutation Create($input: CreateTicketInput!) {
    createTicket(input: $input) { ticket { id number } userErrors { code message } }
  }
`;

const ADD_COMMENT = gql`
  mutation Comment($input: AddTicketCommentInput!) {
    addTicketComment(input: $input) { comment { id } userErrors { code message } }
  }
`;

const TICKET_UPDATED = `
  subscription Updates($ticketId: ID) {
    ticketUpdated(ticketId: $ticketId) { kind ticketNumber comment { body internal } }
  }
`;

function check(condition, why) {
  if (!condition) throw new Error(why);
}

function apolloClient(url, token, cache = new InMemoryCache()) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  return new ApolloClient({ link: new HttpLink({ uri: `${url}/graphql`, headers }), cache });
}

async function mutate(client, mutation, variables, field) {
  const { data, error } = await client.mutate({ mutation, variables, errorPolicy: "all" });
  check(!error, `${field}: ${error?.message}`);
  const payload = data[field];
  check(payload.userErrors.length === 0, `${field}: ${JSON.stringify(payload.userErrors)}`);
  return payload;
}

async function signIn(url, token, email, password) {
  if (token) return token;
  check(email && password, "give --token, or --email and --password");
  const payload = await mutate(apolloClient(url), LOGIN, { input: { email, password } }, "login");
  return payload.accessToken;
}

// The reference: the same list read with plain fetch in pages of 100, no cache involved.
async function allDeviceIds(url, token) {
  const ids = [];
  let after = null;
  for (;;) {
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: "query ($after: String) { devices(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }",
        variables: { after },
      }),
    });
    const { data, errors } = await response.json();
    check(!errors, `devices: ${JSON.stringify(errors)}`);
    ids.push(...data.devices.nodes.map((node) => node.id));
    if (!data.devices.pageInfo.hasNextPage) return ids;
    after = data.devices.pageInfo.endCursor;
  }
}

async function pageDevices(url, token) {
  const cache = new InMemoryCache({
    typePolicies: { Query: { fields: { devices: relayStylePagination() } } },
  });
  const client = apolloClient(url, token, cache);
  const watched = client.watchQuery({ query: DEVICES, variables: { first: PAGE } });
  const active = watched.subscribe({ error: () => {} });
  try {
    let { data } = await client.query({ query: DEVICES, variables: { first: PAGE } });
    let pages = 1;
    while (data.devices.pageInfo.hasNextPage) {
      check(pages < 100, "more than 100 pages");
      await watched.fetchMore({ variables: { after: data.devices.pageInfo.endCursor } });
      data = client.readQuery({ query: DEVICES, variables: { first: PAGE } });
      pages += 1;
    }
    const merged = data.devices.edges.map((edge) => edge.node);
    const ids = merged.map((node) => node.id);
    const expected = await allDeviceIds(url, token);
    check(data.devices.totalCount === expected.length, "totalCount differs from the list");
    check(
      JSON.stringify(ids) === JSON.stringify(expected),
      `merged pages differ from a plain read: ${ids.length} vs ${expected.length} ids`,
    );
    check(new Set(ids).size === ids.length, "the merged list repeats a device");
    check(pages === Math.ceil(expected.length / PAGE), `${pages} pages for ${ids.length}`);
    return { devices: merged, pages };
  } finally {
    active.unsubscribe();
  }
}

function firstEvent(url, token, ticketId) {
  const ws = createClient({
    url: `${url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: false,
  });
  let unsubscribe = () => {};
  const event = new Promise((resolve, reject) => {
    ws.on("error", (error) => reject(new Error(`websocket error: ${error?.message ?? error}`)));
    ws.on("closed", (close) =>
      reject(new Error(`websocket closed: ${close?.code} ${close?.reason ?? ""}`)),
    );
    unsubscribe = ws.subscribe(
      { query: TICKET_UPDATED, variables: { ticketId } },
      {
        next: (result) =>
          result.errors
            ? reject(new Error(`subscription errors: ${JSON.stringify(result.errors)}`))
            : resolve(result.data.ticketUpdated),
        error: (error) => reject(new Error(`subscription error: ${JSON.stringify(error)}`)),
        complete: () => reject(new Error("subscription completed without an event")),
      },
    );
  });
  return {
    event,
    close: async () => {
      unsubscribe();
      await ws.dispose();
    },
  };
}

async function liveUpdate(url, token, agentToken, devices) {
  const device = devices.find((d) => d.status === "ACTIVE" && d.contract?.active);
  check(device, "no covered device to log a ticket on");
  const customer = apolloClient(url, token);
  const { ticket } = await mutate(
    customer,
    CREATE_TICKET,
    {
      input: {
        type: "INCIDENT",
        deviceId: device.id,
        summary: "graphql-ws client test",
        symptomCategory: "NOISE",
      },
    },
    "createTicket",
  );
  const subscription = firstEvent(url, token, ticket.id);
  subscription.event.catch(() => {}); // handled by the race below; not an unhandled rejection
  const answerer = apolloClient(url, agentToken ?? token);
  try {
    // The protocol does not say when the server has registered the subscription: answer
    // again each second until the first event arrives.
    const deadline = Date.now() + TIMEOUT_MS;
    for (let attempt = 0; ; attempt += 1) {
      check(Date.now() < deadline, "no ticketUpdated event in time");
      const body = `On our way (${attempt}).`;
      await mutate(answerer, ADD_COMMENT, { input: { ticketId: ticket.id, body } }, "addTicketComment");
      const tick = new Promise((resolve) => setTimeout(resolve, 1000, null));
      const event = await Promise.race([subscription.event, tick]);
      if (event === null) continue;
      check(event.kind === "COMMENTED", `event kind ${event.kind}`);
      check(event.ticketNumber === ticket.number, `event for ticket ${event.ticketNumber}`);
      check(event.comment?.body?.startsWith("On our way ("), `comment ${JSON.stringify(event)}`);
      return { ticketNumber: ticket.number, event, attempts: attempt + 1 };
    }
  } finally {
    await subscription.close();
  }
}

async function main() {
  check(args.url, "give --url (the API's base URL, e.g. http://127.0.0.1:8000)");
  const url = args.url.replace(/\/+(graphql)?$/, "");
  const token = await signIn(url, args.token, args.email, args.password);
  const agentToken = args["agent-token"]
    ?? (args["agent-email"] ? await signIn(url, null, args["agent-email"], args.password) : null);
  const paged = await pageDevices(url, token);
  const live = await liveUpdate(url, token, agentToken, paged.devices);
  console.log(
    JSON.stringify({ ok: true, devices: paged.devices.length, pages: paged.pages, ...live }),
  );
}

process.on("uncaughtException", (error) => {
  console.error(`FAILED: ${error?.stack ?? error}`);
  process.exit(1);
});

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`FAILED: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
