// Trace context across the pool's boundary, as W3C trace-context
// (https://www.w3.org/TR/trace-context/): `captureTraceContext()` in the
// caller at `submit` makes a small carrier that travels with the task (in
// the task message; for RemotePool inside the job's JSON data), and
// `runWithTraceContext(carrier, fn)` in the worker runs the task under it,
// so spans the task makes with its own @opentelemetry/api join the
// caller's trace.
//
//   caller (submit)                          worker (task begins)
//   active span ──▶ { traceparent,     ──▶   extract ──▶ context.with(ctx, task)
//                     tracestate? , … }                  spans inside: children of that span
//
// @opentelemetry/api is an optional peer and is never imported statically.
// Every registration the API makes (a tracer provider, a context manager, a
// propagator) goes into one global object, keyed by the API's major
// version; without it, no span can be active, so a caller that registered
// nothing pays one global property read per submit and nothing else. Only
// once it exists is the API loaded, synchronously (createRequire), since
// `submit` is synchronous. Two copies of the API (the app's and the one
// resolved from warmpool) share that global object and its context keys,
// which are `Symbol.for` keys, so contexts made by either work with both.
//
// In the worker the same rules hold: the task joins the trace only if the
// worker registered an SDK itself (a tracer provider and, so that the context
// is seen across `await`, the AsyncLocalStorage context manager), typically in
// the pool's `initializer` (docs/guide.md, "Seeing inside a pool"). A
// propagator is not needed there: a carrier without one is read as W3C.

import { nodeModule } from './builtins.js';

/**
 * What crosses with a task: W3C `traceparent` (always), `tracestate` (when
 * the span has one), and whatever else the caller's registered propagator
 * writes (`baggage`, say). Plain strings, so it crosses every transport,
 * JSON included.
 */
export type TraceCarrier = Readonly<Record<string, string>>;

/** The key under which @opentelemetry/api 1.x keeps every global registration. */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** What warmpool uses of @opentelemetry/api (kept local so no declaration file names the package). */
export interface SpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}
export interface OtelContext {
  getValue(key: symbol): unknown;
}
export interface OtelApi {
  ROOT_CONTEXT: OtelContext;
  context: { active(): OtelContext; with<R>(context: OtelContext, fn: () => R): R };
  trace: {
    getSpanContext(context: OtelContext): SpanContext | undefined;
    setSpanContext(context: OtelContext, spanContext: SpanContext): OtelContext;
    isSpanContextValid(spanContext: SpanContext): boolean;
  };
  propagation: {
    inject(context: OtelContext, carrier: Record<string, string>): void;
    extract(context: OtelContext, carrier: Record<string, string>): OtelContext;
  };
  createTraceState?(raw?: string): { serialize(): string };
}

/** undefined: not tried yet; null: not installed where warmpool can resolve it. */
let api: OtelApi | null | undefined;

function loadApi(): OtelApi | null {
  if (api !== undefined) return api;
  try {
    api = nodeModule().createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch {
    api = null;
  }
  return api;
}

function registered(): boolean {
  return (globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] !== undefined;
}

/**
 * For the core, at `submit`: the carrier of the trace the task should join,
 * or `undefined` (no span active, or no @opentelemetry/api). A `traceContext`
 * that a subscriber of `warmpool:task` set on the task's start message wins
 * (warmpool/otel sets its task span there). Call it after `publishTaskStart`
 * and in `submit`'s synchronous part, where the caller's context is active.
 */
export function captureTraceContext(message?: { readonly traceContext?: TraceCarrier }): TraceCarrier | undefined {
  if (message?.traceContext !== undefined) return message.traceContext;
  if (!registered()) return undefined;
  const otel = loadApi();
  if (otel === null) return undefined;
  return carrierOf(otel, otel.context.active());
}

/** The carrier of a context's span, or `undefined` when it has no valid span. */
export function carrierOf(otel: OtelApi, context: OtelContext): TraceCarrier | undefined {
  const span = otel.trace.getSpanContext(context);
  if (span === undefined || !otel.trace.isSpanContextValid(span)) return undefined;
  const carrier: Record<string, string> = {};
  // The caller's own propagators first (baggage, or a vendor's format)...
  otel.propagation.inject(context, carrier);
  // ...and W3C always, even when no propagator is registered (the API's
  // default propagator writes nothing) or only another format is.
  if (carrier.traceparent === undefined) {
    carrier.traceparent = formatTraceparent(span);
    const state = span.traceState?.serialize();
    if (state !== undefined && state !== '') carrier.tracestate = state;
  }
  return carrier;
}

/**
 * For the worker, around a task: runs `fn` under the context the carrier
 * describes, so spans made inside are children of the caller's span. Runs
 * `fn` as it is when there is no carrier, or when this worker registered no
 * OpenTelemetry SDK (then nothing would record a span anyway).
 */
export function runWithTraceContext<R>(carrier: TraceCarrier | undefined, fn: () => R): R {
  if (carrier === undefined || !registered()) return fn();
  const otel = loadApi();
  if (otel === null) return fn();
  const context = contextOf(otel, carrier);
  return context === undefined ? fn() : otel.context.with(context, fn);
}

/** The context a carrier describes, or `undefined` when it holds no readable trace. */
export function contextOf(otel: OtelApi, carrier: TraceCarrier): OtelContext | undefined {
  let context = otel.propagation.extract(otel.ROOT_CONTEXT, { ...carrier });
  if (otel.trace.getSpanContext(context) !== undefined) return context;
  // No propagator registered in this worker (or not a W3C one): read W3C here.
  const span = parseTraceparent(carrier.traceparent, carrier.tracestate, otel);
  if (span === undefined) return undefined;
  context = otel.trace.setSpanContext(context, span);
  return context;
}

/** `00-<trace id>-<span id>-<flags>` (W3C trace-context, version 00). */
export function formatTraceparent(span: Pick<SpanContext, 'traceId' | 'spanId' | 'traceFlags'>): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * A remote span context from a `traceparent` header, or `undefined` when it
 * is malformed, all zeros, or version `ff` (which the W3C spec forbids).
 * Versions above 00 are read as 00 where they agree, as the spec asks.
 */
export function parseTraceparent(
  traceparent: string | undefined,
  tracestate?: string,
  otel?: Pick<OtelApi, 'createTraceState'>,
): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const span: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  if (tracestate !== undefined && tracestate !== '' && otel?.createTraceState !== undefined)
    span.traceState = otel.createTraceState(tracestate);
  return span;
}
