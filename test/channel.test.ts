// The process runtime's framing: any split of the byte stream gives back the
// same messages, and every value comes back exactly, whichever encoding the
// frame chose.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeFrame, encodeFrameParts, FrameReader } from '../lib/process/channel.js';
import { assertBinarySamples, binarySamples } from './fixtures/contract-tasks.js';

/** The bytes a frame puts on the wire, whether it came as one buffer or as a list of parts. */
function wire(frame: Buffer | Uint8Array[]): Buffer {
  return Array.isArray(frame) ? Buffer.concat(frame) : frame;
}

function roundTrip(messages: unknown[][], chunkSize: number): unknown[][] {
  const out: unknown[][] = [];
  const reader = new FrameReader((m) => out.push(m));
  const bytes = Buffer.concat(messages.map((m) => wire(encodeFrameParts(m))));
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
    [
      1,
      15,
      'echo',
      0,
      [{ a: new Float64Array(8192).fill(1.5), b: [Buffer.alloc(70_000, 1), new Uint8Array(0)] }, new Map([[1, new Int8Array(20_000)]])],
    ],
    [1, 16, 'add', 0, [1, 2]],
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

  test('encodeFrame and encodeFrameParts put the same bytes on the wire', () => {
    for (const m of messages) assert.deepEqual(encodeFrame(m), wire(encodeFrameParts(m)));
  });

  test('a value that cannot be cloned makes encodeFrame throw', () => {
    assert.throws(() => encodeFrame([1, 1, 'echo', 0, [() => 1]]), /could not be cloned/);
    assert.throws(() => encodeFrame([1, 1, 'echo', 0, [Symbol('s')]]), /could not be cloned/);
  });

  describe('binary parts', () => {
    for (const chunkSize of [4099, 65_536, 1 << 30]) {
      test(
        `large and small binary values, split into ${chunkSize}-byte chunks, come back exactly, with the frames around them`,
        { timeout: 60_000 },
        () => {
          const out = roundTrip(
            [
              [1, 1, 'add', 0, [1, 2]],
              [1, 2, 'echo', 0, [binarySamples()]],
              [1, 3, 'add', 0, [3, 4]],
            ],
            chunkSize,
          );
          assert.equal(out.length, 3);
          assert.deepEqual(out[0], [1, 1, 'add', 0, [1, 2]]);
          assertBinarySamples((out[1][4] as unknown[])[0]);
          assert.deepEqual(out[2], [1, 3, 'add', 0, [3, 4]]);
        },
      );
    }

    test('a large view is not serialized: the frame is a small head followed by the view’s own memory', () => {
      const backing = new ArrayBuffer(1 << 21);
      const view = new Uint16Array(backing, 1024, 1 << 19);
      const frame = encodeFrameParts([2, 1, 0, new Map([[1, view]])]);
      assert.ok(Array.isArray(frame), 'a list: head, then parts');
      const [head, body, part] = frame;
      assert.ok(head.length + body.length < 256, `a head of ${head.length + body.length} bytes`);
      assert.equal(part.buffer, backing);
      assert.equal(part.byteOffset, 1024);
      assert.equal(part.byteLength, view.byteLength);
    });

    test('a large view arrives over an ArrayBuffer of its own that holds exactly its bytes, of its kind', () => {
      const backing = new ArrayBuffer(1 << 20);
      new Uint8Array(backing).fill(9);
      const sent = [new Float64Array(backing, 8, 10_000), new DataView(backing, 3, 50_000), Buffer.from(backing, 5, 40_000)];
      const [[, , , , got]] = roundTrip([[1, 1, 'echo', 0, sent]], 65_536) as [[0, 0, 0, 0, ArrayBufferView[]]];
      for (let i = 0; i < sent.length; i++) {
        assert.equal(got[i].constructor, sent[i].constructor);
        assert.equal(got[i].byteOffset, 0);
        assert.equal(got[i].buffer.byteLength, sent[i].byteLength);
        assert.deepEqual(got[i], sent[i]);
      }
    });

    test('a large ArrayBuffer travels as a part, alone, in a Map or twice (still one), and a resizable one keeps its maxByteLength', () => {
      const ab = new Uint8Array(200_000).map((_, i) => i & 255).buffer;
      const resizable = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(100_000, { maxByteLength: 300_000 });
      const message = [1, 1, 'echo', 0, [ab, new Map([['k', ab]]), { deep: [ab] }, resizable]];
      const frame = encodeFrameParts(message);
      assert.ok(Array.isArray(frame));
      assert.equal(frame.length, 3, 'the head, its body, and one part for the one ArrayBuffer');
      const [[, , , , got]] = roundTrip([message], 65_536) as [
        [0, 0, 0, 0, [ArrayBuffer, Map<string, ArrayBuffer>, { deep: ArrayBuffer[] }, ArrayBuffer]],
      ];
      assert.deepEqual(new Uint8Array(got[0]), new Uint8Array(ab));
      assert.equal(got[1].get('k'), got[0]);
      assert.equal(got[2].deep[0], got[0]);
      assert.equal((got[3] as unknown as { maxByteLength: number }).maxByteLength, 300_000);
    });

    test('an ArrayBuffer beyond the walk (after 4,096 values, or inside a class instance) goes through the serializer and still arrives exactly', () => {
      class Holder {
        constructor(readonly bytes: ArrayBuffer) {}
      }
      const ab = new Uint8Array(50_000).fill(5).buffer;
      for (const value of [[new Array<number>(5000).fill(0), ab], new Holder(ab)]) {
        const message = [1, 1, 'echo', 0, [value]];
        assert.ok(!Array.isArray(encodeFrameParts(message)), 'one buffer: no parts');
        const [[, , , , [got]]] = roundTrip([message], 65_536) as [[0, 0, 0, 0, unknown[]]];
        const back = Array.isArray(got) ? (got[1] as ArrayBuffer) : (got as { bytes: ArrayBuffer }).bytes;
        assert.deepEqual(new Uint8Array(back), new Uint8Array(ab));
      }
    });

    test('encodeFrame copies a large view: changing it after encoding does not change what arrives', () => {
      const bytes = new Uint8Array(100_000).fill(1);
      const frame = encodeFrame([1, 1, 'echo', 0, [bytes]]);
      bytes.fill(2);
      const out: unknown[][] = [];
      new FrameReader((m) => out.push(m)).push(frame);
      assert.deepEqual((out[0][4] as Uint8Array[])[0], new Uint8Array(100_000).fill(1));
    });

    test('shared memory is refused as a SharedArrayBuffer and copied as a view over one, large or small', () => {
      assert.throws(() => encodeFrame([1, 1, 'echo', 0, [new SharedArrayBuffer(100_000)]]), /could not be cloned/);
      const shared = new Uint8Array(new SharedArrayBuffer(100_000)).fill(3);
      const [[, , , , [got]]] = roundTrip([[1, 1, 'echo', 0, [shared]]], 65_536) as [[0, 0, 0, 0, Uint8Array[]]];
      assert.ok(got.buffer instanceof ArrayBuffer, 'a copy, not shared');
      assert.deepEqual(got, new Uint8Array(100_000).fill(3));
    });

    test('a consumer that throws on a message with parts does not get it again; the frames behind it come with the next push', () => {
      const seen: unknown[] = [];
      let thrown = false;
      const reader = new FrameReader((m) => {
        seen.push(m[1]);
        if (m[1] === 1 && !thrown) {
          thrown = true;
          throw new Error('consumer failed');
        }
      });
      const bytes = Buffer.concat([wire(encodeFrameParts([1, 1, new Uint8Array(70_000)])), encodeFrame([1, 2]), encodeFrame([1, 3])]);
      reader.push(bytes.subarray(0, 1000));
      assert.throws(() => reader.push(bytes.subarray(1000)), /consumer failed/);
      assert.deepEqual(seen, [1]);
      reader.push(Buffer.alloc(0));
      assert.deepEqual(seen, [1, 2, 3]);
    });
  });
});
