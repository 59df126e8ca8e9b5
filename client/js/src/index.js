// @parley/client: the JavaScript client of the Parley chat gateway.
// Plain ES modules, no dependencies, no build step: a page imports
// this file directly, Node.js imports the package.

export { ParleyClient, gatewayUrls, randomId, client_name, client_version } from './client.js';
export { ParleyError, humanReason } from './errors.js';
export { Backoff, backoffDelay, default_backoff } from './backoff.js';
export { Emitter } from './emitter.js';
export { SseParser } from './sse.js';
export {
  createTransport, transport_names, Transport, WebSocketTransport, SessionTransport, LongPollTransport, SseTransport,
} from './transports.js';
