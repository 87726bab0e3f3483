// AladdinProvider: one Y.Doc kept in step with one Aladdin document over the /collab Socket.IO
// namespace (README, Realtime > Protocol), with stock yjs, y-protocols and socket.io-client.
//
// What it does for the application, so no client re-implements the protocol:
// - connects (websocket first) with a token, or a function returning one (a signed-in page
//   refreshes its access token there), joins the project and syncs the document;
// - sends every local change and applies the server's, and relays awareness (presence and
//   cursors) with the identity the server stamps on it;
// - reconnects with backoff, and on every connection re-joins, re-syncs and re-announces presence;
// - `status`, `synced`, `role` and `readOnly` (the server asks an editor for its changes with a
//   sync step 1; a role that may not edit is never asked, and its changes are refused);
// - recovers from refused updates: an ack with `resync: true` (too_large, forbidden, out_of_sync)
//   replaces `doc` by a fresh Y.Doc synced from the server, announced by the "doc" event (bind
//   your editor to the new document there), so later edits apply everywhere;
// - `save()`: an explicit yjs_commit with the stored version it knows (the server also saves by
//   itself, see Autosave), retried once on a version conflict.

import * as Y from "yjs";
import * as syncProtocol from "y-protocols/sync";
import * as awarenessProtocol from "y-protocols/awareness";
import * as encoding from "lib0/encoding";
import * as decoding from "lib0/decoding";
import { io } from "socket.io-client";

const MESSAGE_SYNC = 0;
const LOCAL = Symbol("aladdin-provider");

const syncFrame = (write) => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  write(encoder);
  return encoding.toUint8Array(encoder);
};

export class AladdinProvider {
  /**
   * @param {object} options see index.d.ts
   */
  constructor({
    url, token, projectId, collection, documentId,
    doc = new Y.Doc(), awareness = null, connect = true,
    reconnectionDelay = 250, reconnectionDelayMax = 10000, socketOptions = {},
  }) {
    if (!url || !token || !projectId || !collection || !documentId) {
      throw new TypeError("AladdinProvider needs url, token, projectId, collection and documentId");
    }
    this.ref = { projectId, collection, documentId };
    this.doc = doc;
    this.awareness = awareness || new awarenessProtocol.Awareness(doc);
    this._ownsAwareness = !awareness; // ours to destroy (its renewal timer keeps a process alive)
    this.status = "disconnected";
    this.synced = false;
    this.role = null;
    this.canEdit = false;
    this.version = null;
    this.user = null;
    this._handlers = new Map();
    this._pending = Promise.resolve();
    this._sync = null; // the sync in progress: has its step 2 arrived, has it been acked
    this._destroyed = false;

    this._onDocUpdate = (update, origin) => {
      if (origin === LOCAL || !this._connected()) return;
      this._send("yjs", syncFrame((e) => syncProtocol.writeUpdate(e, update)));
    };
    this._onAwarenessUpdate = ({ added, updated, removed }, origin) => {
      if (origin === LOCAL || !this._connected()) return;
      const mine = [...added, ...updated, ...removed].filter((id) => id === this.doc.clientID);
      if (mine.length) this._sendAwareness(mine);
    };
    this.doc.on("update", this._onDocUpdate);
    this.awareness.on("update", this._onAwarenessUpdate);

    this.socket = io(`${url.replace(/\/$/, "")}/collab`, {
      auth: typeof token === "function" ? (cb) => Promise.resolve(token()).then((t) => cb({ token: t })) : { token },
      transports: ["websocket", "polling"],
      reconnectionDelay, reconnectionDelayMax, autoConnect: false, ...socketOptions,
    });
    this.socket.on("connect", () => this._onConnect());
    this.socket.on("disconnect", (reason) => this._onDisconnect(reason));
    this.socket.on("connect_error", (err) => {
      this._setStatus("disconnected");
      this._emit("error", { code: "connect_error", message: err.message });
    });
    this.socket.on("yjs", (data) => this._mine(data) && this._onSync(data.message));
    this.socket.on("awareness", (data) => {
      if (this._mine(data)) awarenessProtocol.applyAwarenessUpdate(this.awareness, new Uint8Array(data.message), LOCAL);
    });
    this.socket.on("content_change", (data) => {
      if (this._mine(data) && typeof data.version === "number") this._setVersion(data.version);
    });
    this.socket.on("access_revoked", (data) => this._emit("error", { code: "access_revoked", ...data }));
    if (connect) this.connect();
  }

  /** Subscribe to "status", "synced", "role", "version", "doc", "error". */
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this._handlers.get(event)?.delete(fn);
    return this;
  }

  /** Resolves once the document is synced (at once when it is). */
  whenSynced() {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (synced) => { if (synced) { this.off("synced", done); resolve(); } };
      this.on("synced", done);
    });
  }

  get readOnly() {
    return this.synced && !this.canEdit;
  }

  connect() {
    if (this._destroyed) throw new Error("this provider was destroyed");
    this._setStatus("connecting");
    this.socket.connect();
  }

  disconnect() {
    this.socket.disconnect();
  }

  /** Write the live document into the stored one now (yjs_commit); resolves with the ack. */
  async save() {
    await this.whenSynced();
    await this._pending; // every local change sent and acked first: the commit includes them
    let ack = await this.socket.emitWithAck("yjs_commit", { ...this.ref, baseVersion: this.version ?? 0 });
    if (ack.error === "conflict" && typeof ack.version === "number") {
      this._setVersion(ack.version); // written elsewhere meanwhile (autosave, REST): the copy includes it
      ack = await this.socket.emitWithAck("yjs_commit", { ...this.ref, baseVersion: ack.version });
    }
    if (typeof ack.version === "number") this._setVersion(ack.version);
    return ack;
  }

  /** Leave: presence removed for everyone, the connection closed, listeners dropped. */
  destroy() {
    if (this._destroyed) return;
    if (this._connected()) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], "destroy");
      this._sendAwareness([this.doc.clientID]);
    }
    this._destroyed = true;
    this.doc.off("update", this._onDocUpdate);
    this.awareness.off("update", this._onAwarenessUpdate);
    if (this._ownsAwareness) this.awareness.destroy();
    this.socket.disconnect();
    this._handlers.clear();
  }

  // --- the protocol -----------------------------------------------------------------------

  async _onConnect() {
    this._setStatus("connected");
    try {
      // The join and the sync go out together: the server handles a socket's events in order, so
      // the sync finds the project joined, and synced comes one round trip after connecting.
      const joining = this.socket.emitWithAck("join", { projectId: this.ref.projectId });
      const syncing = this._startSync(() => joining);
      const joined = await joining;
      if (!joined.ok) return this._emit("error", { code: joined.error, message: joined.message });
      this.user = joined.you ?? null;
      this._setRole(joined.role);
      await syncing;
      // Re-announce presence: a bumped clock, so peers that saw our removal take it again.
      if (this.awareness.getLocalState() !== null) this.awareness.setLocalState(this.awareness.getLocalState());
    } catch (err) {
      this._emit("error", { code: "internal", message: String(err?.message || err) });
    }
  }

  async _startSync(joining = null) {
    // Synced once the server's step 2 has arrived and its ack (with the stored version) too:
    // the server sends the step 2 before it answers, but the two may be read in either order.
    this._setSynced(false);
    this.canEdit = false;
    this._sync = { step2: false, acked: false };
    const sync = this._sync;
    const ack = await this.socket.emitWithAck("yjs", {
      ...this.ref, message: syncFrame((e) => syncProtocol.writeSyncStep1(e, this.doc)),
    });
    if (joining && !(await joining()).ok) return; // the join's refusal is the one reported
    if (!ack.ok) return this._emit("error", { code: ack.error, message: ack.message });
    if (typeof ack.version === "number") this._setVersion(ack.version);
    sync.acked = true;
    if (sync.step2 && this._sync === sync) this._setSynced(true);
  }

  _onSync(message) {
    const decoder = decoding.createDecoder(new Uint8Array(message));
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    const kind = syncProtocol.readSyncMessage(decoder, encoder, this.doc, LOCAL);
    if (kind === syncProtocol.messageYjsSyncStep1) {
      // The server asks an editor for what it lacks; a role that may not edit is never asked.
      this.canEdit = true;
      this._send("yjs", encoding.toUint8Array(encoder));
      if (this.synced) this._emit("role", this.role);
    } else if (kind === syncProtocol.messageYjsSyncStep2 && this._sync) {
      this._sync.step2 = true;
      if (this._sync.acked) this._setSynced(true);
    }
  }

  _send(event, message) {
    // In order, one after another: a refusal must be seen before the next update builds on it.
    this._pending = this._pending.then(async () => {
      if (!this._connected()) return;
      const ack = await this.socket.emitWithAck(event, { ...this.ref, message });
      if (ack.resync) await this._resync(ack);
      else if (!ack.ok) this._emit("error", { code: ack.error, message: ack.message });
    }).catch((err) => this._emit("error", { code: "internal", message: String(err?.message || err) }));
  }

  _sendAwareness(clients) {
    const message = awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients);
    this.socket.emitWithAck("awareness", { ...this.ref, message }).then((ack) => {
      if (!ack.ok) this._emit("error", { code: ack.error, message: ack.message });
    }, () => {});
  }

  async _resync(ack) {
    // The server refused an update this document holds; every later local change builds on it
    // and could apply nowhere. A fresh document synced from the server replaces it (README:
    // Refused updates); what the refused update held is lost, as the refusal says.
    this._setSynced(false);
    this._emit("error", { code: ack.error, message: ack.message, resync: true });
    if (ack.error === "forbidden") this.canEdit = false;
    const old = this.doc;
    const local = this.awareness.getLocalState();
    old.off("update", this._onDocUpdate);
    this.awareness.off("update", this._onAwarenessUpdate);
    awarenessProtocol.removeAwarenessStates(this.awareness, [old.clientID], LOCAL);
    this.awareness.destroy(); // it belongs to the old document
    this._ownsAwareness = true;
    this.doc = new Y.Doc({ gc: old.gc });
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    this.doc.on("update", this._onDocUpdate);
    this.awareness.on("update", this._onAwarenessUpdate);
    if (local !== null) this.awareness.setLocalState(local);
    this._emit("doc", { doc: this.doc, awareness: this.awareness, previous: old });
    await this._startSync();
  }

  _onDisconnect(reason) {
    this._setSynced(false);
    this._setStatus(this._destroyed ? "disconnected" : "connecting");
    // Peers are out of view until the next sync brings them back.
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID);
    awarenessProtocol.removeAwarenessStates(this.awareness, others, LOCAL);
    if (reason === "io server disconnect") this._setStatus("disconnected"); // revoked: no retry
  }

  // --- state ------------------------------------------------------------------------------

  _connected() {
    return this.socket.connected && !this._destroyed;
  }

  _mine(data) {
    return data && data.documentId === this.ref.documentId && data.collection === this.ref.collection;
  }

  _setStatus(status) {
    if (status !== this.status) { this.status = status; this._emit("status", status); }
  }

  _setSynced(synced) {
    if (synced !== this.synced) { this.synced = synced; this._emit("synced", synced); }
  }

  _setRole(role) {
    if (role !== this.role) { this.role = role; this._emit("role", role); }
  }

  _setVersion(version) {
    if (this.version === null || version > this.version) { this.version = version; this._emit("version", version); }
  }

  _emit(event, value) {
    for (const fn of this._handlers.get(event) || []) fn(value);
  }
}
