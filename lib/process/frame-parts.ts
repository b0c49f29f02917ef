// Binary parts of lib/process/channel.ts's frames: large binary data beside
// the v8 body rather than through the serializer. Apart from channel.ts
// because it is a format of its own, with its own reader state.
//
// Node's serializer writes a typed array as a host object: its bytes copied
// into the serializer's buffer, then (on the other side) the whole frame
// joined from the socket's 64 KiB reads and the bytes viewed in it. For a
// megabyte that was most of a round trip's CPU on both sides. Here a view of
// PART_MIN bytes or more is written as a reference to a part: the frame's
// head (the header, the parts' lengths, the v8 body) is followed by each
// part's bytes as they are, and the reader copies them as they arrive straight
// into one allocation per part, sized from the head, so nothing is joined.
//
// PARTS_FRAME: u32 LE head length, u8 2, then the head: u32 LE count, u32 LE
// how many of them are ArrayBuffers, count × f64 LE part length, the v8 body;
// then the parts' bytes, in order (the head length does not count them, so
// the small head is read as any frame is).
//
// An ArrayBuffer is not a host object: V8 copies it into the body unless it
// is marked transferred, and then writes its id instead (the serializer does
// not detach it; the reader supplies the buffer for each id). So the message
// is first walked for ArrayBuffers of PART_MIN bytes or more, through plain
// objects, arrays, Maps and Sets, at most WALK_BUDGET values: one found
// deeper, or inside a class instance, goes through the serializer as before
// (slower, as exact). A resizable one is left to the serializer too, which
// keeps its maxByteLength.
//
// In the body every host object starts with a u32 mark: INLINE, followed by
// Node's own format (DefaultSerializer._writeHostObject), or PART, followed
// by the view's kind (PART_KINDS). A part arrives as a view over its own
// ArrayBuffer (byteOffset 0, nothing else in it): what a view held travels,
// not the rest of the buffer it was a window on, as with Node's format, whose
// small views arrive as windows on the frame. A view over a
// SharedArrayBuffer is copied as Node's format copies it (a bare
// SharedArrayBuffer is refused by the serializer, as before).

import { isProxy, isSharedArrayBuffer } from 'node:util/types';
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';

/** A frame's header (./channel.ts): u32 LE payload length, u8 encoding. */
export const HEADER = 5;
export const JSON_FRAME = 0;
export const V8_FRAME = 1;
export const PARTS_FRAME = 2;

/** Bytes from which a view travels as a part rather than through the serializer. */
const PART_MIN = 16 * 1024;
const INLINE = 0;
const PART = 1;

type ViewClass = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;
/**
 * The kinds of view a part may be, by index on the wire; Buffer is told apart
 * by its constructor, as Node does. A kind Node's serializer does not know
 * (Float16Array, where it exists) is left to it, and refused by it as before,
 * whatever its size.
 */
const PART_KINDS: [string, ViewClass][] = [
  ['Buffer', Buffer],
  ['DataView', DataView],
  ...[
    'Int8Array',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int16Array',
    'Uint16Array',
    'Int32Array',
    'Uint32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
  ]
    .filter((name) => typeof (globalThis as Record<string, unknown>)[name] === 'function')
    .map((name): [string, ViewClass] => [name, (globalThis as Record<string, unknown>)[name] as ViewClass]),
];
const KIND_INDEX = new Map(PART_KINDS.map(([name], i) => [name, i]));

// Node's own host-object format, documented as what these methods do in
// DefaultSerializer and DefaultDeserializer (not in @types/node).
const writeInline = (
  DefaultSerializer.prototype as unknown as { _writeHostObject: (this: DefaultSerializer, view: ArrayBufferView) => void }
)._writeHostObject;
const readInline = (DefaultDeserializer.prototype as unknown as { _readHostObject: (this: DefaultDeserializer) => ArrayBufferView })
  ._readHostObject;

function kindOf(view: ArrayBufferView): number | undefined {
  if (view.constructor === Buffer) return 0;
  return KIND_INDEX.get((view as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag]);
}

/** Values the walk for large ArrayBuffers visits at most. */
const WALK_BUDGET = 4096;
let walkBudget = 0;

/** The ArrayBuffers of PART_MIN bytes or more in `message` (see the header: where the walk looks, and how far). */
export function largeArrayBuffers(message: unknown): ArrayBuffer[] {
  walkBudget = WALK_BUDGET;
  const found: ArrayBuffer[] = [];
  findArrayBuffers(message, found);
  return found;
}

function findArrayBuffers(value: unknown, found: ArrayBuffer[]): void {
  if (--walkBudget < 0 || typeof value !== 'object' || value === null) return;
  // A proxy's traps could throw, or run code, where the serializer refuses it untouched.
  if (isProxy(value)) return;
  if (value instanceof ArrayBuffer) {
    // `resizable` is ES2024 (Node 20 has it; the compiler's lib does not).
    const resizable = (value as { resizable?: boolean }).resizable === true;
    if (value.byteLength >= PART_MIN && !resizable && !found.includes(value)) found.push(value);
    return;
  }
  // Each loop stops with the budget: a million-item array costs no more than a small one.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && walkBudget > 0; i++) findArrayBuffers(value[i], found);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      if (walkBudget <= 0) return;
      findArrayBuffers(k, found);
      findArrayBuffers(v, found);
    }
  } else if (value instanceof Set) {
    for (const v of value) {
      if (walkBudget <= 0) return;
      findArrayBuffers(v, found);
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return;
    for (const key in value) {
      if (walkBudget <= 0) return;
      if (Object.prototype.hasOwnProperty.call(value, key)) findArrayBuffers((value as Record<string, unknown>)[key], found);
    }
  }
}

export class PartSerializer extends DefaultSerializer {
  readonly parts: Uint8Array[] = [];

  _writeHostObject(view: ArrayBufferView): void {
    const kind = view.byteLength >= PART_MIN && !isSharedArrayBuffer(view.buffer) ? kindOf(view) : undefined;
    if (kind === undefined) {
      this.writeUint32(INLINE);
      writeInline.call(this, view);
      return;
    }
    this.writeUint32(PART);
    this.writeUint32(kind);
    this.parts.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
}

/** Reads a v8 body whose parts (in the order they were written) are `parts`. */
class PartDeserializer extends DefaultDeserializer {
  readonly #parts: ArrayBuffer[];
  #next: number;

  constructor(body: Buffer, parts: ArrayBuffer[], arrayBuffers: number) {
    super(body);
    this.#parts = parts;
    for (let i = 0; i < arrayBuffers; i++) this.transferArrayBuffer(i, parts[i]);
    this.#next = arrayBuffers;
  }

  _readHostObject(): ArrayBufferView {
    if (this.readUint32() === INLINE) return readInline.call(this);
    const [, View] = PART_KINDS[this.readUint32()];
    const part = this.#parts[this.#next++];
    if (View === (Buffer as unknown as ViewClass)) return Buffer.from(part);
    const size = (View as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    return new View(part, 0, part.byteLength / size);
  }
}

export const NO_PARTS: ArrayBuffer[] = [];

export function decodeV8(body: Buffer, parts: ArrayBuffer[], arrayBuffers: number): unknown[] {
  const des = new PartDeserializer(body, parts, arrayBuffers);
  des.readHeader();
  return des.readValue() as unknown[];
}

/** The frame of a body with parts: its head (header, counts, lengths, body), then the ArrayBuffers, then the views. */
export function withParts(body: Buffer, arrayBuffers: ArrayBuffer[], views: Uint8Array[]): Uint8Array[] {
  const parts = [...arrayBuffers.map((b) => new Uint8Array(b)), ...views];
  const meta = Buffer.allocUnsafe(HEADER + 8 + 8 * parts.length);
  const headLength = meta.length - HEADER + body.length - HEADER;
  if (headLength > 0xffff_ffff) throw new RangeError(`Expected a message body of at most 4 GiB, got ${headLength} bytes`);
  meta.writeUInt32LE(headLength, 0);
  meta[4] = PARTS_FRAME;
  meta.writeUInt32LE(parts.length, HEADER);
  meta.writeUInt32LE(arrayBuffers.length, HEADER + 4);
  for (let i = 0; i < parts.length; i++) meta.writeDoubleLE(parts[i].byteLength, HEADER + 8 + 8 * i);
  return [meta, body.subarray(HEADER), ...parts];
}

export function joinParts(frame: Uint8Array[]): Buffer {
  let total = 0;
  for (const b of frame) total += b.byteLength;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const b of frame) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/** A parts frame being read: its message, decoded from the head, and the parts it still waits for. */
export class PartsInFlight {
  readonly message: unknown[];
  readonly #parts: Uint8Array[];
  #index = 0;
  #filled = 0;

  constructor(head: Buffer) {
    const count = head.readUInt32LE(0);
    const arrayBuffers = head.readUInt32LE(4);
    this.#parts = new Array<Uint8Array>(count);
    const buffers = new Array<ArrayBuffer>(count);
    for (let i = 0; i < count; i++) {
      // allocUnsafeSlow: an ArrayBuffer of its own, exactly the part's size
      // (not a slice of Node's pool), uninitialized: it is filled whole
      // before the message is handed on.
      const part = Buffer.allocUnsafeSlow(head.readDoubleLE(8 + 8 * i));
      this.#parts[i] = part;
      buffers[i] = part.buffer;
    }
    this.message = decodeV8(head.subarray(8 + 8 * count), buffers, arrayBuffers);
  }

  /** Copies what `chunk` holds of the parts from `offset`; returns the bytes taken. */
  fill(chunk: Buffer, offset: number): number {
    let at = offset;
    while (this.#index < this.#parts.length && at < chunk.length) {
      const part = this.#parts[this.#index];
      const n = Math.min(part.length - this.#filled, chunk.length - at);
      part.set(chunk.subarray(at, at + n), this.#filled);
      at += n;
      this.#filled += n;
      if (this.#filled === part.length) {
        this.#index++;
        this.#filled = 0;
      }
    }
    return at - offset;
  }

  get done(): boolean {
    return this.#index === this.#parts.length;
  }
}
