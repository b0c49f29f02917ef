// The wire between the parent and a worker process: length-prefixed frames
// over a socket pair (the child's fd 3), used by both sides.
//
// Why not Node's IPC channel: with `serialization: 'advanced'` (needed to
// carry Map, BigInt, typed arrays...) every message pays for a JS
// Serializer, a header, a Buffer.concat and a Deserializer, about 4 µs a
// round trip more than JSON; with 'json' the types are lost. Here each frame
// says how it is encoded: a message whose every value JSON carries exactly
// (strings, finite numbers other than -0, booleans, null, plain arrays and
// objects, no shared references) goes as JSON; anything else as
// `v8.serialize`, which throws, having written nothing, when a value cannot
// be cloned. The check walks at most JSON_BUDGET values, so a large message
// simply takes the v8 path, which is the faster one for bulk data anyway.
//
// Frame: u32 LE payload length, u8 encoding (0 JSON, 1 v8, 2 v8 with parts),
// payload. Large binary data (a typed array, Buffer, DataView or ArrayBuffer
// of at least PART_MIN bytes, alone or inside objects) does not go through
// the serializer: the v8 body holds a reference to a part, and the part's
// bytes follow the frame as they are (./frame-parts.ts).

import type { Socket } from 'node:net';
import {
  decodeV8,
  HEADER,
  JSON_FRAME,
  joinParts,
  largeArrayBuffers,
  NO_PARTS,
  PARTS_FRAME,
  PartSerializer,
  PartsInFlight,
  V8_FRAME,
  withParts,
} from './frame-parts.js';
/** Values the JSON check may visit before giving up on JSON. */
const JSON_BUDGET = 4096;

/** Objects the JSON check may meet; more, and the message goes by v8 (it is large anyway). */
const MAX_OBJECTS = 64;

let budget = 0;
// An array, not a Set: a task message holds two or three objects, and
// storing into and scanning a tiny array costs less than hashing. Its length
// stays put between messages (`length = 0` would free the backing store and
// every message would grow a new one); `seenCount` says how much is in use.
const seen: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
let seenCount = 0;

function wasSeen(value: object): boolean {
  for (let i = 0; i < seenCount; i++) if (seen[i] === value) return true;
  return false;
}

/** True if JSON.parse(JSON.stringify(value)) gives back exactly `value`. */
function jsonExact(value: unknown, depth: number): boolean {
  if (--budget < 0) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
    case 'object': {
      if (value === null) return true;
      if (depth > 32 || seenCount >= MAX_OBJECTS || wasSeen(value)) return false;
      seen[seenCount++] = value;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !jsonExact(value[i], depth + 1)) return false;
        }
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) {
        if (key === '__proto__' || !Object.prototype.hasOwnProperty.call(value, key)) return false;
        if (!jsonExact((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * Encodes one message as one buffer. Throws, having written nothing, when a
 * value cannot be cloned. Binary parts are copied behind the head: the
 * parent's socket writes are asynchronous, and a caller may change its buffer
 * once `submit` has returned (the task must see the bytes as they were when
 * sent, as with structured clone).
 */
export function encodeFrame(message: unknown[]): Buffer {
  const frame = encodeFrameParts(message);
  return Array.isArray(frame) ? joinParts(frame) : frame;
}

/**
 * Encodes one message as a frame: one buffer, or a frame with binary parts
 * as a list (its head, then each part's bytes, not copied: the list must be
 * written before the caller's values can change, as the worker's synchronous
 * writes are). Throws, having written nothing, when a value cannot be cloned.
 */
export function encodeFrameParts(message: unknown[]): Buffer | Uint8Array[] {
  budget = JSON_BUDGET;
  let exact: boolean;
  try {
    exact = jsonExact(message, 0);
  } finally {
    // Let go of the message's objects (also when a getter threw); the array keeps its size.
    for (let i = 0; i < seenCount; i++) seen[i] = undefined;
    seenCount = 0;
  }
  // JSON.stringify throws past the longest string V8 makes; v8.serialize may still manage.
  let text: string | undefined;
  if (exact) {
    try {
      text = JSON.stringify(message);
    } catch {
      text = undefined;
    }
  }
  if (text !== undefined) {
    const length = Buffer.byteLength(text);
    const frame = Buffer.allocUnsafe(HEADER + length);
    frame.writeUInt32LE(length, 0);
    frame[4] = JSON_FRAME;
    frame.write(text, HEADER, 'utf8');
    return frame;
  }
  // v8.serialize, with room for the frame header written first: the body is
  // not copied again behind a header (a megabyte payload paid that copy).
  const ser = new PartSerializer();
  const arrayBuffers = largeArrayBuffers(message);
  for (let i = 0; i < arrayBuffers.length; i++) ser.transferArrayBuffer(i, arrayBuffers[i]);
  ser.writeRawBytes(HEADER_ROOM);
  ser.writeHeader();
  ser.writeValue(message);
  const frame = ser.releaseBuffer();
  if (arrayBuffers.length + ser.parts.length > 0) return withParts(frame, arrayBuffers, ser.parts);
  frame.writeUInt32LE(frame.length - HEADER, 0);
  frame[4] = V8_FRAME;
  return frame;
}

const HEADER_ROOM = new Uint8Array(HEADER);

/** Splits the byte stream of a socket into messages. */
export class FrameReader {
  readonly #onMessage: (message: unknown[]) => void;
  /** Bytes received and not yet consumed: one buffer, or a list while a large frame arrives. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes needed before parsing is worth trying: a header, or the whole frame it announces. */
  #need = HEADER;
  /** A frame with binary parts whose head was read, while its parts arrive. */
  #inFlight: PartsInFlight | undefined;

  constructor(onMessage: (message: unknown[]) => void) {
    this.#onMessage = onMessage;
  }

  push(chunk: Buffer): void {
    if (this.#inFlight !== undefined) {
      this.#pushParts(chunk);
      return;
    }
    let buf: Buffer;
    if (this.#buffered === 0 && chunk.length >= this.#need) {
      // The common case, a read that starts on a frame boundary, is parsed
      // where it lies: the list is left empty (pushing to an empty list
      // allocates its backing store anew on every read).
      buf = chunk;
    } else {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      // A large frame arrives in many chunks: join them once, when it is whole.
      if (this.#buffered < this.#need) return;
      buf = this.#chunks.length === 1 ? this.#chunks[0] : this.#join();
    }
    let offset = 0;
    try {
      while (buf.length - offset >= HEADER) {
        const length = buf.readUInt32LE(offset);
        const end = offset + HEADER + length;
        if (end > buf.length) break;
        const start = offset + HEADER;
        if (buf[offset + 4] === PARTS_FRAME) {
          const parts = new PartsInFlight(buf.subarray(start, end));
          offset = end + parts.fill(buf, end);
          if (!parts.done) {
            this.#inFlight = parts;
            break;
          }
          this.#onMessage(parts.message);
          continue;
        }
        const message = (
          buf[offset + 4] === JSON_FRAME ? JSON.parse(buf.toString('utf8', start, end)) : decodeV8(buf.subarray(start, end), NO_PARTS, 0)
        ) as unknown[];
        // Consumed before it is handed on: a consumer that throws must not
        // have the same frame delivered again by the next push.
        offset = end;
        this.#onMessage(message);
      }
    } finally {
      this.#keep(buf, offset);
    }
  }

  /**
   * What is left of the stream: nothing, or a partial frame. The common case,
   * a read that ends on a frame boundary, allocates nothing (no view of the
   * empty rest, no new list): a round trip reads one frame on each side, and
   * garbage per call is what brings the next scavenge closer.
   */
  #keep(buf: Buffer, offset: number): void {
    if (offset === buf.length) {
      if (this.#chunks.length > 0) this.#chunks = [];
      this.#buffered = 0;
      this.#need = HEADER;
    } else {
      const rest = buf.subarray(offset);
      this.#chunks = [rest];
      this.#buffered = rest.length;
      this.#need = rest.length >= HEADER ? HEADER + rest.readUInt32LE(0) : HEADER;
    }
  }

  /** The parts of a frame whose head was read go straight into their own buffers; what follows them is read as usual. */
  #pushParts(chunk: Buffer): void {
    const parts = this.#inFlight!;
    const taken = parts.fill(chunk, 0);
    if (!parts.done) return;
    this.#inFlight = undefined;
    const rest = taken === chunk.length ? undefined : chunk.subarray(taken);
    try {
      this.#onMessage(parts.message);
    } catch (err) {
      // As in push: the frames behind this one wait for the next push.
      if (rest !== undefined) this.#keep(rest, 0);
      throw err;
    }
    if (rest !== undefined) this.push(rest);
  }

  #join(): Buffer {
    const buf = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [buf];
    return buf;
  }
}

/** Reads frames from `socket` into `onMessage`. */
export function readFrames(socket: Socket, onMessage: (message: unknown[]) => void): void {
  const reader = new FrameReader(onMessage);
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
}
