// The provider against a served Aladdin: two `serve` processes of one installation (started by
// tests/e2e/test_js_provider.py, which passes their URLs, tokens and documents in the environment).
// Every wait is on an event or a condition, never on the clock alone.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { AladdinProvider } from "../src/index.js";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/e2e/test_js_provider.py`);
  return value;
};
const A = env("ALADDIN_URL_A");
const B = env("ALADDIN_URL_B");
const PROJECT = env("ALADDIN_PROJECT");
const TOKENS = JSON.parse(env("ALADDIN_TOKENS"));
const DOCS = JSON.parse(env("ALADDIN_DOCS"));
const WAIT = 60_000;
const made = [];
after(() => made.forEach((p) => p.destroy()));

const provider = (url, role, doc, options = {}) => {
  const p = new AladdinProvider({ url, token: TOKENS[role], projectId: PROJECT, collection: "scenes",
                                  documentId: DOCS[doc], ...options });
  made.push(p);
  return p;
};
const title = (p) => p.doc.getMap("content").get("title");
const text = (p) => String(title(p) ?? "");
const until = async (what, check) => {
  const deadline = Date.now() + WAIT;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20)); // the poll interval, not a guess at a duration
  }
};
const rest = async (method, doc, token, body, headers = {}) => {
  const response = await fetch(`${A}/api/v1/projects/${PROJECT}/content/scenes/${DOCS[doc]}`, {
    method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
};

test("two editors on two server processes converge, concurrent typing included", { timeout: 90_000 }, async () => {
  const a = provider(A, "editor", "converge");
  const b = provider(B, "owner", "converge");
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  assert.equal(a.status, "connected");
  assert.equal(a.role, "editor");
  assert.equal(a.canEdit, true);
  assert.equal(a.readOnly, false);
  assert.equal(typeof a.version, "number");
  assert.equal(text(a), "Opening");
  title(a).insert(0, "A: ");
  await until("B to see A's typing", () => text(b).startsWith("A: "));
  for (let i = 0; i < 20; i++) { // both at once
    title(a).insert(text(a).length, "a");
    title(b).insert(0, "b");
  }
  await until("both copies to converge", () => text(a) === text(b) && text(a).length === "A: Opening".length + 40);
});

test("a viewer reads live but cannot write, and its refused change leaves no trace", { timeout: 90_000 }, async () => {
  const editor = provider(A, "editor", "viewer");
  const viewer = provider(B, "viewer", "viewer");
  await Promise.all([editor.whenSynced(), viewer.whenSynced()]);
  assert.equal(viewer.role, "viewer");
  assert.equal(viewer.readOnly, true);
  title(editor).insert(0, "Live ");
  await until("the viewer to see the edit", () => text(viewer) === "Live Opening");
  const replaced = new Promise((resolve) => viewer.on("doc", resolve));
  const refused = new Promise((resolve) => viewer.on("error", (e) => e.resync && resolve(e)));
  title(viewer).insert(0, "Vandal ");
  assert.equal((await refused).code, "forbidden");
  const { doc } = await replaced;
  assert.notEqual(doc, null);
  await viewer.whenSynced();
  assert.equal(text(viewer), "Live Opening");
  title(editor).insert(text(editor).length, "!");
  await until("the viewer's new document to keep following", () => text(viewer) === "Live Opening!");
  assert.equal(text(editor), "Live Opening!");
});

test("presence carries the server's identity, not the one a client claims", { timeout: 90_000 }, async () => {
  const a = provider(A, "editor", "presence");
  const b = provider(B, "owner", "presence");
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  a.awareness.setLocalState({ user: { name: "Somebody Else", color: "#123456" }, cursor: { anchor: 3 } });
  await until("B to see A's announced state", () => b.awareness.getStates().get(a.doc.clientID)?.cursor?.anchor === 3);
  const seen = b.awareness.getStates().get(a.doc.clientID);
  assert.equal(seen.user.name, "Editor");
  assert.equal(seen.userName, "Editor");
  assert.equal(seen.user.color, "#123456");
  assert.deepEqual(seen.cursor, { anchor: 3 });
});

test("a dropped connection reconnects, re-syncs what it missed and re-announces presence", { timeout: 90_000 }, async () => {
  const a = provider(A, "editor", "reconnect", { reconnectionDelay: 50, reconnectionDelayMax: 200 });
  const b = provider(B, "owner", "reconnect");
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  a.awareness.setLocalState({ user: { name: "x" }, cursor: { anchor: 1 } });
  await until("B to see A", () => b.awareness.getStates().has(a.doc.clientID));
  const statuses = [];
  a.on("status", (s) => statuses.push(s));
  a.socket.io.engine.close(); // the network drops
  await until("A to notice", () => !a.synced);
  await until("B to see A leave", () => !b.awareness.getStates().has(a.doc.clientID));
  title(b).insert(0, "while away ");
  title(a).insert(text(a).length, " offline");
  await a.whenSynced();
  assert.deepEqual(statuses.slice(0, 2), ["connecting", "connected"]);
  await until("both sides' edits everywhere", () => text(a) === text(b) && text(b) === "while away Opening offline");
  await until("B to see A again", () => b.awareness.getStates().has(a.doc.clientID));
});

test("save() writes the live document with the version it knows, and a REST write shows live", { timeout: 90_000 }, async () => {
  const a = provider(A, "editor", "save");
  await a.whenSynced();
  const first = a.version;
  title(a).delete(0, text(a).length);
  title(a).insert(0, "Saved by hand");
  const ack = await a.save();
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.ok(a.version > first || ack.unchanged, `${first} -> ${a.version}`);
  const stored = await rest("GET", "save", TOKENS.editor);
  assert.equal(stored.body.content.title, "Saved by hand");
  const patched = await rest("PATCH", "save", TOKENS.owner, { content: { title: "Changed over REST" } },
                             { "If-Match": `"${stored.body.version}"` });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await until("the REST write to show in the live document", () => text(a) === "Changed over REST");
  await until("the provider to know the new version", () => a.version >= patched.body.version);
});

test("a paste over the limit is refused, the document resyncs, and later typing reaches peers", { timeout: 90_000 }, async () => {
  const a = provider(A, "editor", "paste");
  const b = provider(B, "owner", "paste");
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  const refused = new Promise((resolve) => a.on("error", (e) => e.resync && resolve(e)));
  const replaced = new Promise((resolve) => a.on("doc", resolve));
  title(a).insert(0, "x".repeat(1_200_000));
  assert.equal((await refused).code, "too_large");
  await replaced;
  await a.whenSynced();
  assert.equal(text(a), "Opening");
  title(a).insert(text(a).length, " after");
  await until("B to get the typing after the refusal", () => text(b) === "Opening after");
  assert.ok(!text(b).includes("xxx"));
});
