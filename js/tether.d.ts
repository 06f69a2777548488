// Types of tether.js (js/tether.js; man/tether.js.7).

export interface Backoff {
  /** The first reconnect delay's cap, ms (default 500). */
  initialMs?: number;
  /** The largest cap, ms (default 30000). */
  maxMs?: number;
  /** A connection that lived this long restarts the back-off from initialMs (default 10000). */
  resetAfterMs?: number;
}

export type Transport = "auto" | "websocket" | "sse";

export interface TetherClientOptions {
  /** One to 16 channels. */
  channels: string[];
  /** "auto" (default): WebSocket, then EventSource where WebSocket does not open. */
  transport?: Transport;
  /** Resume after this id at the first connection. */
  since?: string | null;
  /** Passed as ?token= (the auth module). */
  token?: string | null;
  backoff?: Backoff;
  /** Route prefixes (default { websocket: "/ws/", sse: "/sse/" }). */
  paths?: { websocket?: string; sse?: string };
  /** false: call connect() yourself (default true). */
  autoConnect?: boolean;
  /** [0, 1) like Math.random, for the jitter. */
  random?: () => number;
}

export interface Message {
  /** null over SSE with several channels (tether's SSE events do not carry the channel). */
  channel: string | null;
  id: string | null;
  data: string;
}

export interface Events {
  message: Message;
  gap: { channel: string; since: string };
  dropped: { count: number };
  open: { transport: "websocket" | "sse"; since: string | null };
  close: { code: number; reason: string; reconnect: boolean; delayMs?: number; transport?: "websocket" | "sse" };
  error: { error: unknown; fatal: boolean; code?: number; transport?: "websocket" | "sse" };
  expired: { code: number; reason: string };
  refreshed: Record<string, never>;
  refresh_failed: Record<string, never>;
}

export declare class TetherClient {
  constructor(url: string | URL, options: TetherClientOptions);
  readonly lastId: string | null;
  readonly transport: "websocket" | "sse";
  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): this;
  off<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): this;
  setToken(token: string): void;
  /** Sends text on the open WebSocket (client_messages = "publish" or "echo"); false when not connected or over SSE.
   *  A text that is exactly {"type":"refresh","token":...} is a token renewal to tether, never published: see setToken(). */
  send(text: string): boolean;
  connect(): void;
  close(): void;
}
export default TetherClient;

export declare function publish(base: string | URL, channel: string, data: string,
                                options?: { token?: string; path?: string }): Promise<string>;

export declare const DEFAULT_BACKOFF: Readonly<Required<Backoff>>;
export declare function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number;
export declare function nextAttempt(attempt: number, livedMs: number | null, backoff?: Backoff): number;
export declare function closeDecision(code: number, opened?: boolean): "now" | "backoff" | "expired" | "stop";
export declare function parseId(id: string): { epoch: string; sequence: bigint } | null;
export declare function compareIds(a: string, b: string): -1 | 0 | 1 | null;
export interface ResumeState { lastIds: Map<string, string>; since: string | null }
export declare function createResumeState(since?: string | null, channels?: string[]): ResumeState;
export declare function acceptMessage(state: ResumeState, channel: string | null, id: string | null): boolean;
export declare function connectionUrl(base: string | URL, transport: "websocket" | "sse", channels: string[],
                                      since: string | null, token: string | null,
                                      paths?: { websocket?: string; sse?: string }): string;
export declare function nextTransport(mode: Transport, current: "websocket" | "sse",
                                      state: { opened: boolean; everOpened: boolean }): "websocket" | "sse";
