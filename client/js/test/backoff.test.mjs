import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff, backoffDelay } from '../src/index.js';
import { seeded } from './fakes.mjs';

test('delays grow by the factor and stop at the cap (no jitter)', () => {
  const o = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0 };
  const delays = [0, 1, 2, 3, 4, 5, 6, 10, 50].map((a) => backoffDelay(a, o));
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000, 15_000]);
  assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(a, { initialMs: 100, maxMs: 10_000, factor: 3, jitter: 0 })),
                   [100, 300, 900, 2700]);
});

test('partial jitter keeps each delay in [d(1-j), d] and spreads it', () => {
  const random = seeded(42);
  const o = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.5 };
  for (let attempt = 0; attempt < 8; ++attempt) {
    const d = Math.min(15_000, 500 * 2 ** attempt);
    const samples = Array.from({ length: 500 }, () => backoffDelay(attempt, o, random));
    for (const s of samples)
      assert.ok(s >= d / 2 && s <= d, `attempt ${attempt}: ${s} outside [${d / 2}, ${d}]`);
    // Spread over the whole range, not stuck at one end.
    assert.ok(Math.min(...samples) < d * 0.55, `attempt ${attempt}: min ${Math.min(...samples)}`);
    assert.ok(Math.max(...samples) > d * 0.95, `attempt ${attempt}: max ${Math.max(...samples)}`);
  }
});

test('full jitter draws from [0, d]; the extremes of random map to the bounds', () => {
  const random = seeded(7);
  const o = { initialMs: 1000, maxMs: 8000, factor: 2, jitter: 1 };
  const samples = Array.from({ length: 500 }, () => backoffDelay(5, o, random));
  assert.ok(samples.every((s) => s >= 0 && s <= 8000));
  assert.ok(Math.min(...samples) < 400 && Math.max(...samples) > 7600);
  assert.equal(backoffDelay(2, { initialMs: 100, jitter: 0.5 }, () => 0), 400);
  assert.equal(backoffDelay(2, { initialMs: 100, jitter: 0.5 }, () => 0.999999), 200);
  // Out-of-range jitter is clamped.
  assert.equal(backoffDelay(0, { initialMs: 100, jitter: 5 }, () => 0.5), 50);
  assert.equal(backoffDelay(0, { initialMs: 100, jitter: -1 }, () => 0.5), 100);
});

test('a seeded random gives the same delays every run', () => {
  const a = new Backoff({ initialMs: 500, maxMs: 15_000, jitter: 0.5 }, seeded(1));
  const b = new Backoff({ initialMs: 500, maxMs: 15_000, jitter: 0.5 }, seeded(1));
  const da = Array.from({ length: 10 }, () => a.next());
  const db = Array.from({ length: 10 }, () => b.next());
  assert.deepEqual(da, db);
  assert.equal(a.attempt, 10);
  a.reset();
  assert.equal(a.attempt, 0);
  const first = a.next();
  assert.ok(first >= 250 && first <= 500);
});
