// One text field of a document bound to CodeMirror 6 through y-codemirror.next: the field is a
// Y.Text in the document's Y.Map("content") (README, Realtime > Mapping). Remote cursors and
// selections carry the names the server stamps on awareness, so nobody shows as someone else.

import { EditorState, Compartment } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import * as Y from "yjs";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";

const COLORS = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2"];

/** A colour of our own for presence; the name comes from the server. */
export const colorFor = (clientId) => COLORS[clientId % COLORS.length];

export class FieldEditor {
  constructor(parent) {
    this.parent = parent;
    this.view = null;
    this.editable = new Compartment();
    this.ytext = null;
  }

  /** Bind ``field`` of ``provider``'s current document (again after a resync replaced it). */
  bind(provider, field) {
    this.destroy();
    const content = provider.doc.getMap("content");
    const ytext = content.get(field);
    if (!(ytext instanceof Y.Text)) return false;
    this.ytext = ytext;
    const undoManager = new Y.UndoManager(ytext);
    this.view = new EditorView({
      parent: this.parent,
      state: EditorState.create({
        doc: ytext.toString(),
        extensions: [
          lineNumbers(), drawSelection(), highlightActiveLine(), EditorView.lineWrapping,
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...historyKeymap]), history(),
          yCollab(ytext, provider.awareness, { undoManager }),
          this.editable.of(this._editable(provider.readOnly)),
        ],
      }),
    });
    return true;
  }

  /** Read-only for a role that cannot edit (and until the document is synced). */
  setReadOnly(readOnly) {
    if (this.view) this.view.dispatch({ effects: this.editable.reconfigure(this._editable(readOnly)) });
  }

  _editable(readOnly) {
    return [EditorView.editable.of(!readOnly), EditorState.readOnly.of(readOnly)];
  }

  destroy() {
    if (this.view) this.view.destroy();
    this.view = null;
    this.ytext = null;
  }
}

/** The document's text fields worth typing in: references to other documents (``locationId``,
 * ``characterIds``) are text too, but an id is picked, not written. */
export function textFields(doc) {
  const fields = [];
  doc.getMap("content").forEach((value, key) => { if (value instanceof Y.Text && !/Ids?$/.test(key)) fields.push(key); });
  return fields.sort();
}
