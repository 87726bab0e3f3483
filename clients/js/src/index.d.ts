import type * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import type { Socket, ManagerOptions, SocketOptions } from "socket.io-client";

export type ProviderStatus = "connecting" | "connected" | "disconnected";

export interface ProviderError {
  /** An ack's error code (README, Protocol: `forbidden`, `too_large`, `out_of_sync`, ...), or `connect_error`, `access_revoked`, `internal`. */
  code: string;
  message?: string;
  /** Set when the refusal replaced `doc` (see the "doc" event). */
  resync?: boolean;
  [key: string]: unknown;
}

export interface AladdinProviderOptions {
  /** The server's base URL, e.g. `https://aladdin.example.com`. */
  url: string;
  /** An API token or a sign-in access token, or a function returning one (called on every connection). */
  token: string | (() => string | Promise<string>);
  projectId: string;
  collection: string;
  documentId: string;
  doc?: Y.Doc;
  awareness?: Awareness;
  /** Connect at once (default true). */
  connect?: boolean;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface DocReplaced {
  doc: Y.Doc;
  awareness: Awareness;
  previous: Y.Doc;
}

export interface SaveAck {
  ok?: boolean;
  error?: string;
  message?: string;
  version?: number;
  unchanged?: boolean;
  document?: Record<string, unknown>;
}

export declare class AladdinProvider {
  constructor(options: AladdinProviderOptions);
  readonly ref: { projectId: string; collection: string; documentId: string };
  /** Replaced after a refused update (the "doc" event): bind your editor to the new one. */
  doc: Y.Doc;
  awareness: Awareness;
  socket: Socket;
  status: ProviderStatus;
  synced: boolean;
  /** The user's role in the project (`owner`, `editor`, `collaborator`, `viewer`), from `join`. */
  role: string | null;
  /** The server asked this client for its changes: its edits are accepted. */
  canEdit: boolean;
  /** Synced and the role may not edit this document. */
  readonly readOnly: boolean;
  /** The stored version the provider knows (sync ack, content_change events, saves). */
  version: number | null;
  /** The server's presence record of this socket's user (the `join` ack's `you`). */
  user: Record<string, unknown> | null;
  on(event: "status", fn: (status: ProviderStatus) => void): this;
  on(event: "synced", fn: (synced: boolean) => void): this;
  on(event: "role", fn: (role: string | null) => void): this;
  on(event: "version", fn: (version: number) => void): this;
  on(event: "doc", fn: (replaced: DocReplaced) => void): this;
  on(event: "error", fn: (error: ProviderError) => void): this;
  off(event: string, fn: (...args: any[]) => void): this;
  whenSynced(): Promise<void>;
  connect(): void;
  disconnect(): void;
  save(): Promise<SaveAck>;
  destroy(): void;
}
