// The process runtime's framing: any split of the byte stream gives back the
// same messages, and every value comes back exactly, whichever encoding the
// frame chose.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeFrame, FrameReader } from '../lib/process/channel.js';

function roundTrip(messages: unknown[][], chunkSize: number): unknown[][] {
  const out: unknown[][] = [];
  const reader = new FrameReader((m) => out.push(m));
  const bytes = Buffer.concat(messages.map(encodeFrame));
  for (let i = 0; i < bytes.length; i += chunkSize) reader.push(bytes.subarray(i, i + chunkSize));
  return out;
}

describe('process channel framing', () => {
  const shared = { shared: true };
  const messages: unknown[][] = [
    [1, 7, 'add', 0, [1, 2]],
    [1, 8, 'echo', 0, [{ text: 'héllo ✓', list: [1, 2.5, -3], nested: { ok: null } }]],
    [1, 9, 'echo', 0, [-0, NaN, Infinity, undefined, 2n ** 70n]],
    [1, 10, 'echo', 0, [new Map([[1, new Set(['a'])]]), new Date(0), /re/g, new Uint8Array([1, 2, 3])]],
    [1, 11, 'echo', 0, [[shared, shared]]],
    [1, 12, 'echo', 0, [JSON.parse('{"__proto__": {"polluted": true}}')]],
    // eslint-disable-next-line no-sparse-arrays
    [1, 13, 'echo', 0, [[1, , 3]]],
    [1, 14, 'echo', 0, [new Uint8Array(200_000).fill(7)]],
  ];

  for (const chunkSize of [1, 3, 5, 64, 65_536, 1 << 30]) {
    test(`messages split into ${chunkSize}-byte chunks come back whole, in order and equal`, { timeout: 30_000 }, () => {
      const out = roundTrip(messages, chunkSize);
      assert.equal(out.length, messages.length);
      assert.deepEqual(out, messages);
    });
  }

  test('values JSON would change come back exactly: -0, NaN, undefined, BigInt, shared references, holes', () => {
    const [, , , , [negZero, nan, inf, undef, big]] = roundTrip([messages[2]], 1 << 30)[0] as [0, 0, 0, 0, unknown[]];
    assert.ok(Object.is(negZero, -0));
    assert.ok(Number.isNaN(nan));
    assert.equal(inf, Infinity);
    assert.equal(undef, undefined);
    assert.equal(big, 2n ** 70n);
    const [pair] = roundTrip([messages[4]], 1 << 30)[0][4] as [unknown[]];
    assert.equal(pair[0], pair[1], 'a value referenced twice stays one value');
    const [sparse] = roundTrip([messages[6]], 1 << 30)[0][4] as [unknown[]];
    assert.ok(!(1 in sparse), 'a hole stays a hole');
  });

  test('a key named __proto__ stays an own key and changes no prototype', () => {
    const [value] = roundTrip([messages[5]], 1 << 30)[0][4] as [Record<string, unknown>];
    assert.ok(Object.prototype.hasOwnProperty.call(value, '__proto__'));
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a value that cannot be cloned makes encodeFrame throw', () => {
    assert.throws(() => encodeFrame([1, 1, 'echo', 0, [() => 1]]), /could not be cloned/);
    assert.throws(() => encodeFrame([1, 1, 'echo', 0, [Symbol('s')]]), /could not be cloned/);
  });
});
