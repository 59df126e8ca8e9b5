// Errors of the client's requests.

/**
 * A request that failed: the server answered with an error frame (`code` is
 * its ERROR_CODE_*), or the client gave up on it:
 * - `TIMEOUT`: no answer within the request timeout (late answers are ignored)
 * - `LOST`: the connection dropped before the answer came
 * - `CLOSED`: the client was closed (close()) or never connected
 * - `HTTP`: a session endpoint answered with an unexpected status
 */
export class ParleyError extends Error {
  /**
   * @param {string} code
   * @param {string} [reason]
   * @param {object} [extra] e.g. { status } for HTTP errors
   */
  constructor(code, reason = '', extra = undefined) {
    super(reason ? `${code}: ${humanReason(reason)}` : code);
    this.name = 'ParleyError';
    this.code = code;
    /** The reason as the server gave it, made readable (see humanReason). */
    this.reason = humanReason(reason);
    if (extra)
      Object.assign(this, extra);
  }
}

/**
 * Some reasons arrive in CAF's rendering of an error,
 * `parley.invalid_room_name("a room name holds only ...")`: keeps the quoted part.
 * @param {string|undefined} reason
 * @returns {string}
 */
export function humanReason(reason) {
  const m = /^[\w.]+\("(.*)"\)$/s.exec(reason ?? '');
  return m ? m[1].replace(/\\(.)/g, '$1') : (reason ?? '');
}

/** Error codes after which the same request may be sent again (publish retries with its id). */
export const retryable_codes = new Set([
  'ERROR_CODE_UNAVAILABLE', 'ERROR_CODE_STORE_UNAVAILABLE', 'TIMEOUT', 'LOST',
]);
