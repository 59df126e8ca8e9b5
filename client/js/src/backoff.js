// Exponential backoff with jitter.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs=500] the first delay (before jitter)
 * @property {number} [maxMs=15000] the cap (before jitter)
 * @property {number} [factor=2] growth per attempt
 * @property {number} [jitter=0.5] fraction of the delay that is random: 0 none,
 *   0.5 a delay in [d/2, d], 1 "full jitter" in [0, d]
 */

/** @type {Required<BackoffOptions>} */
export const default_backoff = Object.freeze({ initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.5 });

/**
 * The delay before retry number `attempt` (0 for the first retry):
 * d = min(maxMs, initialMs * factor^attempt), then a random part of it taken
 * away: the result lies in [d * (1 - jitter), d].
 * @param {number} attempt
 * @param {BackoffOptions} [options]
 * @param {() => number} [random] a number in [0, 1)
 * @returns {number} milliseconds, an integer
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const o = { ...default_backoff, ...options };
  const jitter = Math.min(1, Math.max(0, o.jitter));
  const ceiling = Math.min(o.maxMs, o.initialMs * o.factor ** Math.max(0, attempt));
  return Math.round(ceiling * (1 - jitter * random()));
}

/** Counts failed attempts in a row and hands out their delays. */
export class Backoff {
  /**
   * @param {BackoffOptions} [options]
   * @param {() => number} [random]
   */
  constructor(options = {}, random = Math.random) {
    this.options = { ...default_backoff, ...options };
    this.random = random;
    this.attempt = 0;
  }

  /** The delay before the next try; counts the attempt. */
  next() {
    return backoffDelay(this.attempt++, this.options, this.random);
  }

  reset() {
    this.attempt = 0;
  }
}
