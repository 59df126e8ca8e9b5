// A tiny event emitter that works alike in browsers and Node.js.

/**
 * Listeners by event name. Unlike Node's EventEmitter, an 'error' event
 * without a listener is dropped (not thrown), and a listener that throws does
 * not stop the others (it is reported with reportError, or console.error).
 */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /**
   * Calls `fn` for every `event`. Returns a function that removes it.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set)
      this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  /**
   * Calls `fn` for the next `event` only.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  once(event, fn) {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  /**
   * @param {string} event
   * @param {Function} fn
   */
  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  /**
   * @param {string} event
   * @param {...any} args
   * @returns {boolean} whether anyone listened
   */
  emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set || set.size === 0)
      return false;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        // One broken listener must not break the client's state machine.
        if (typeof globalThis.reportError === 'function')
          globalThis.reportError(e);
        else
          console.error(e);
      }
    }
    return true;
  }
}
