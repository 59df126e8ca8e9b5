// Types of @parley/client. Frames follow protobuf's JSON mapping of
// proto/parley/v1/parley.proto: lowerCamelCase, 64-bit integers as decimal
// strings, enums by name, bytes as base64, default values omitted.

export type TransportName = 'websocket' | 'sse' | 'longpoll';
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface BackoffOptions {
  /** First delay, before jitter. Default 500. */
  initialMs?: number;
  /** Cap, before jitter. Default 15000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Random share of each delay: 0 none, 0.5 a delay in [d/2, d] (default), 1 full jitter [0, d]. */
  jitter?: number;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface ParleyClientOptions {
  /** The gateway's base URL, http(s)://host[:port][/prefix], or its ws(s)://.../ws URL. Default: the page's origin. */
  url?: string;
  /** A JSON Web Token, or a function returning one (called once per connection attempt). */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** The name asked for in hello (guests get it with a "~"). */
  user?: string;
  clientName?: string;
  clientVersion?: string;
  /** Fallback order. Default ['websocket', 'sse', 'longpoll']. */
  transports?: TransportName[];
  /** Per transport: open and welcome within this. Default 5000. */
  connectTimeoutMs?: number;
  /** Default timeout of a request. Default 10000. */
  requestTimeoutMs?: number;
  /** Ping period; a ping without a pong within requestTimeoutMs drops the connection. 0: none. Default 20000. */
  heartbeatMs?: number;
  /** The backoff starts over once a connection has been welcomed and stayed up this long. Default 0 (at the welcome). */
  stableAfterMs?: number;
  backoff?: BackoffOptions;
  /** Remembers the transport that worked. Default localStorage if usable, else memory. */
  storage?: StorageLike;
  /** Storage key. Default 'parley.transport'. */
  storageKey?: string;
  /** A WebSocket class (Node: `import WebSocket from 'ws'`). Default globalThis.WebSocket; null: none. */
  WebSocket?: any;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Default globalThis.EventSource; null: read the event stream with fetch (sends the key as a header). */
  EventSource?: any;
  /** A number in [0, 1): jitter, rejoin spread (tests pass a seeded one). Default Math.random. */
  random?: () => number;
  /** Advanced: builds a transport by name (tests, custom transports). */
  createTransport?: (name: string, ctx: TransportContext) => Transport;
  /** Advanced: merged into every TransportContext (retryBackoff, maxRetries, streamIdleMs, ...). */
  transportOptions?: Partial<TransportContext>;
}

// -- frames -------------------------------------------------------------------------

export interface Limits {
  maxFrameBytes?: number;
  maxTextBytes?: number;
  maxBodyBytes?: number;
  maxRoomNameBytes?: number;
  backlog?: number;
  publishPerSecond?: number;
  publishBurst?: number;
}

export interface Welcome {
  sessionId?: string;
  node?: string;
  limits?: Limits;
  /** The name rooms show: "~ann" for a guest, a token's sub otherwise. */
  user?: string;
  guest?: boolean;
}

export interface Message {
  room: string;
  seq: string;
  sender?: string;
  text?: string;
  /** base64 */
  body?: string;
  serverTimeMs?: string;
}

export interface Joined {
  room?: string;
  memberCount?: number;
  messages?: Message[];
  seq?: string;
  gap?: boolean;
  members?: string[];
  more?: boolean;
}

export interface Published { room?: string; seq?: string }
export interface History { room?: string; messages?: Message[]; gap?: boolean }
export interface PresenceAck { room?: string; members?: string[] }
export interface Pong { clientTimeMs?: string; serverTimeMs?: string }
export interface Left { room?: string; reason?: string; detail?: string }
export interface RoomSummary { name: string; memberCount?: number; lastSeq?: string }

export interface Ack {
  welcome?: Welcome;
  joined?: Joined;
  published?: Published;
  history?: History;
  presence?: PresenceAck;
  pong?: Pong;
  left?: Left;
  rooms?: { rooms?: RoomSummary[] };
}

/** A ClientFrame without its ref (the client adds it). */
export type RequestBody =
  | { hello: { clientName?: string; clientVersion?: string; token?: string; user?: string } }
  | { join: { room: string; sinceSeq?: string } }
  | { leave: { room: string } }
  | { publish: { room: string; text?: string; body?: string; id?: string } }
  | { history: { room: string; beforeSeq?: string; afterSeq?: string; limit?: number } }
  | { presence: { room: string } }
  | { ping: { clientTimeMs?: string } }
  | { rooms: Record<string, never> };

// -- events -------------------------------------------------------------------------

export interface StateEvent {
  state: ConnectionState;
  /** The transport being tried ('connecting') or in use ('open'). */
  transport: TransportName | null;
  /** Failed attempts in a row. */
  attempt: number;
  /** 'reconnecting': the wait before the next attempt. */
  delayMs?: number;
  /** 'reconnecting': why the last attempt or connection failed; 'closed': the fatal error, if any. */
  error?: ParleyError;
}

export interface PresenceEvent {
  room: string;
  /** Everyone present now, sorted. */
  members: string[];
  /** What this diff changed (empty after a join). */
  joined: string[];
  left: string[];
}

export interface LeftEvent {
  room: string;
  /** LEFT_REASON_* from the server, or 'REJOIN_FAILED'. */
  reason: string;
  detail: string;
  /** True: the client joins it again with sinceSeq (restarted, moved, stopped); false: forgotten. */
  rejoining: boolean;
  error?: ParleyError;
}

export interface JoinedEvent { room: string; joined: Joined; resumed: boolean }
export interface GapEvent { room: string; afterSeq: string; beforeSeq: string }
export interface ResetEvent { room: string; sinceSeq: string }
export interface DisconnectEvent { code?: number; reason: string }

export interface ParleyEvents {
  state: StateEvent;
  welcome: Welcome;
  message: Message;
  presence: PresenceEvent;
  joined: JoinedEvent;
  left: LeftEvent;
  /** Messages between afterSeq and beforeSeq are missing (retention, or too many to fill back). */
  gap: GapEvent;
  /** The room started over (its seq went backwards): drop what was shown of it. */
  reset: ResetEvent;
  disconnect: DisconnectEvent;
  error: ParleyError;
}

// -- classes ------------------------------------------------------------------------

export class Emitter<Events extends Record<string, any> = Record<string, any>> {
  on<K extends keyof Events & string>(event: K, fn: (arg: Events[K]) => void): () => void;
  once<K extends keyof Events & string>(event: K, fn: (arg: Events[K]) => void): () => void;
  off<K extends keyof Events & string>(event: K, fn: (arg: Events[K]) => void): void;
  emit<K extends keyof Events & string>(event: K, arg: Events[K]): boolean;
}

export class ParleyError extends Error {
  constructor(code: string, reason?: string, extra?: object);
  /** ERROR_CODE_* from the server, or TIMEOUT, LOST, CLOSED, HTTP, CONNECT_FAILED, UNSUPPORTED, TOKEN. */
  code: string;
  reason: string;
  /** HTTP errors: the status. */
  status?: number;
}

export class ParleyClient extends Emitter<ParleyEvents> {
  constructor(options?: ParleyClientOptions);
  readonly state: ConnectionState;
  readonly transport: TransportName | null;
  readonly welcome: Welcome | null;
  /** Rooms joined (and joined again after reconnects). */
  readonly joinedRooms: string[];
  connect(): Promise<Welcome>;
  reconnect(): Promise<Welcome>;
  close(): Promise<void>;
  request(body: RequestBody | Record<string, unknown>, options?: { timeoutMs?: number }): Promise<Ack>;
  join(room: string, options?: { sinceSeq?: string | number | bigint; timeoutMs?: number }): Promise<Joined>;
  leave(room: string, options?: { timeoutMs?: number }): Promise<Left>;
  publish(room: string, text?: string,
          options?: { body?: Uint8Array | ArrayBuffer | string; id?: string; retry?: boolean; timeoutMs?: number }): Promise<Published>;
  history(room: string, options?: { beforeSeq?: string | number | bigint; afterSeq?: string | number | bigint; limit?: number; timeoutMs?: number }): Promise<History>;
  presence(room: string, options?: { timeoutMs?: number }): Promise<PresenceAck>;
  rooms(options?: { timeoutMs?: number }): Promise<RoomSummary[]>;
  ping(options?: { timeoutMs?: number }): Promise<Pong>;
  /** The last seq delivered in the room, or null. */
  lastSeq(room: string): string | null;
  /** Who is in the room, sorted, or null if not joined. */
  members(room: string): string[] | null;
}

export interface TransportContext {
  baseUrl: string;
  wsUrl: string;
  token?: string;
  WebSocket?: any;
  fetch?: typeof fetch;
  EventSource?: any;
  random?: () => number;
  retryBackoff?: BackoffOptions;
  maxRetries?: number;
  maxBatchBytes?: number;
  /** SSE: a client that only listens acknowledges what it received after this long (an empty send with ?ack=). Default 5000. */
  ackAfterMs?: number;
  streamIdleMs?: number;
}

export interface CloseInfo { code: number; reason: string; status?: number }

/** What every transport has: open, then send frames; frames come to onframe; onclose says it ended by itself. */
export class Transport {
  constructor(ctx: TransportContext);
  readonly name: string;
  /** True once ended or closed. */
  closed: boolean;
  onframe: (frame: any) => void;
  onclose: (info: CloseInfo) => void;
  /** Resolves once frames can be sent; rejects if it cannot open. */
  open(): Promise<void>;
  /** Never throws; a failure ends the transport (onclose). */
  send(frame: object): void;
  /** Ends it from this side; onclose is not called. */
  close(): Promise<void>;
}

export class WebSocketTransport extends Transport {
  readonly name: 'websocket';
}

/** Long-polling and SSE: a session opened by POST /v1/sessions, written by POST .../send. */
export class SessionTransport extends Transport {
  session: string | null;
  key: string | null;
  /** The most bytes one POST .../send carries. */
  maxBatchBytes: number;
}

export class LongPollTransport extends SessionTransport {
  readonly name: 'longpoll';
  /** The number of the last frame handed on. */
  ack: number;
}

export class SseTransport extends SessionTransport {
  readonly name: 'sse';
  /** The id of the last event handed on. */
  lastId: number;
}

export function createTransport(name: TransportName, ctx: TransportContext): Transport;
export const transport_names: readonly TransportName[];

export interface SseEvent { type: string; data: string; lastEventId: string }
export class SseParser {
  constructor(onevent: (ev: SseEvent) => void, onretry?: (ms: number) => void);
  lastEventId: string;
  feed(chunk: string | Uint8Array | ArrayBuffer): void;
  end(): void;
}

export class Backoff {
  constructor(options?: BackoffOptions, random?: () => number);
  attempt: number;
  next(): number;
  reset(): void;
}
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
export const default_backoff: Readonly<Required<BackoffOptions>>;

export function gatewayUrls(url: string): { baseUrl: string; wsUrl: string };
export function randomId(random?: () => number): string;
export function humanReason(reason: string | undefined): string;
export const client_name: string;
export const client_version: string;
