// Stock y-websocket clients (WebsocketProvider) reconnecting and echoing, as editors do: every
// provider sends back each awareness change it receives. Checks what every one of them shows.
// Usage: node ywebsocket_presence.mjs <url> <tokenA> <tokenB> <projectId> <collection> <documentId> <reconnects>
//   A stays; B reconnects `reconnects` times with a fresh Y.Doc, as a page reload does. After each
//   reconnect both must show exactly the two live clients: a departed client's state echoed back
//   must not come to life again (under the echoing user's name) nor reach the next client.
//   Then a second tab of A opens: once the tabs show each other, each tab's awareness changes
//   are counted for `quiet` ms while nobody changes anything (each echo taking the other tab's
//   id over sent it back and forth without end).
// Prints one JSON line: {rounds, live, seenByA, seenByB, tabUpdates: [tab1, tab2]}.
import WebSocket from "ws";
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";

const [url, tokenA, tokenB, projectId, collection, documentId, reconnects] = process.argv.slice(2);
const QUIET_MS = 1500;
let step = "start";
const fail = (msg) => { console.error(msg); process.exit(1); };
let shown = () => "";
setTimeout(() => fail(`timed out at ${step} ${shown()}`), 60000);

async function connect(token) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`${url.replace(/^http/, "ws")}/collab/yjs`,
                                         `${projectId}/${collection}/${documentId}`, doc,
                                         { WebSocketPolyfill: WebSocket, params: { token }, disableBc: true });
  await new Promise((resolve) => provider.on("sync", (synced) => synced && resolve()));
  return { doc, provider, awareness: provider.awareness, id: doc.clientID };
}

const ids = (client) => [...client.awareness.getStates().keys()].sort();
const showsExactly = (client, live) => JSON.stringify(ids(client)) === JSON.stringify([...live].sort());
const until = (clients, test) => new Promise((resolve) => {
  const check = () => {
    if (!test()) return;
    clients.forEach((c) => c.awareness.off("change", check));
    resolve();
  };
  clients.forEach((c) => c.awareness.on("change", check));
  check();
});

const a = await connect(tokenA);
let b = null;
for (let round = 0; round < Number(reconnects); round++) {
  step = `reconnect ${round}: A shows ${ids(a)}, B shows ${b ? ids(b) : "-"}`;
  if (b) b.provider.destroy();
  b = await connect(tokenB);
  const live = [a.id, b.id];
  shown = () => `(A shows ${ids(a)}, B shows ${ids(b)})`;
  step = `reconnect ${round}: waiting for both to show ${live}`;
  await until([a, b], () => showsExactly(a, live) && showsExactly(b, live));
}
const result = { rounds: Number(reconnects), live: [a.id, b.id].sort(), seenByA: ids(a), seenByB: ids(b) };

step = "second tab";
const tab = await connect(tokenA);
await until([a, tab], () => a.awareness.getStates().has(tab.id) && tab.awareness.getStates().has(a.id));
const counts = [0, 0];
a.awareness.on("update", () => { counts[0] += 1; });
tab.awareness.on("update", () => { counts[1] += 1; });
await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
console.log(JSON.stringify({ ...result, tabUpdates: counts }));
for (const client of [a, b, tab]) client.provider.destroy();
setTimeout(() => process.exit(0), 200);
