// What every stock-client script here shares: y-protocols sync frames over Aladdin's `yjs` event.
import * as syncProtocol from "y-protocols/sync";
import * as encoding from "lib0/encoding";
import * as decoding from "lib0/decoding";

export const REMOTE = "server"; // the origin of changes that came from the server

// One y-protocols sync frame: messageSync (0), then what `write` adds (a step or an update).
export const frame = (write) => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  write(encoder);
  return encoding.toUint8Array(encoder);
};

export const syncStep1 = (doc) => frame((e) => syncProtocol.writeSyncStep1(e, doc));

// Apply the server's `yjs` frames to the document `doc()` names now, answering what y-protocols
// answers; `synced()` is called on each sync step 2 (the server's "everything you lack").
export function followSync(socket, ref, doc, synced) {
  socket.on("yjs", (data) => {
    if (data.documentId !== ref.documentId) return;
    const decoder = decoding.createDecoder(new Uint8Array(data.message));
    if (decoding.readVarUint(decoder) !== 0) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0);
    const type = syncProtocol.readSyncMessage(decoder, encoder, doc(), REMOTE);
    if (encoding.length(encoder) > 1) socket.emit("yjs", { ...ref, message: encoding.toUint8Array(encoder) });
    if (type === syncProtocol.messageYjsSyncStep2) synced();
  });
}
