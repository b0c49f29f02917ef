// A horizontal bar chart on a log scale, as a standalone SVG string: enough
// for `warmpool bench --svg` and bench/ to draw cold versus warm latency
// without a browser or a charting dependency.

export interface Bar {
  label: string;
  /** ms; drawn on a log scale. */
  value: number;
  /** Shown at the end of the bar; defaults to the value in ms. */
  note?: string;
  /** Bars of one kind share a colour. */
  kind: 'cold' | 'warm' | 'raw';
}

const COLOURS: Record<Bar['kind'], string> = { cold: '#c8553d', warm: '#2a9d8f', raw: '#8d99ae' };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : ms % 1000 === 0 ? 0 : 2)} s`;
  if (ms >= 1) return `${ms.toFixed(ms >= 10 || Number.isInteger(ms) ? 0 : 1)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

export function barChart(title: string, subtitle: string, bars: readonly Bar[]): string {
  const labelWidth = 300;
  const plotWidth = 460;
  const noteWidth = 90;
  const rowHeight = 30;
  const top = 64;
  const width = labelWidth + plotWidth + noteWidth;
  const height = top + bars.length * rowHeight + 40;
  const values = bars.map((b) => b.value).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const x = (v: number) => labelWidth + (plotWidth * (Math.log10(v) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600" fill="#222">${escape(title)}</text>`,
    `<text x="12" y="44" fill="#555">${escape(subtitle)}</text>`,
  ];
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    const tx = x(t).toFixed(1);
    out.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + bars.length * rowHeight}" stroke="#ddd"/>`);
    out.push(`<text x="${tx}" y="${top + bars.length * rowHeight + 18}" text-anchor="middle" fill="#666">${escape(formatMs(t))}</text>`);
  }
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const end = x(Math.max(bar.value, lo));
    out.push(`<text x="${labelWidth - 10}" y="${y + 19}" text-anchor="end" fill="#222">${escape(bar.label)}</text>`);
    out.push(
      `<rect x="${labelWidth}" y="${y + 6}" width="${Math.max(1, end - labelWidth).toFixed(1)}" height="${rowHeight - 10}" fill="${COLOURS[bar.kind]}" rx="2"/>`,
    );
    out.push(`<text x="${(end + 6).toFixed(1)}" y="${y + 19}" fill="#222">${escape(bar.note ?? formatMs(bar.value))}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface Series {
  label: string;
  /** [x, y] points, x > 0 (drawn on a log scale), in increasing x. */
  points: readonly (readonly [number, number])[];
  colour: string;
  /** Heavier line and markers: the series the chart is about. */
  strong?: boolean;
  dashed?: boolean;
}

export interface LineChartOptions {
  xLabel: string;
  yLabel: string;
  /** How an x tick reads, e.g. `5 µs`. */
  formatX: (x: number) => string;
  /** Horizontal reference lines, e.g. break-even at 1. */
  references?: readonly { y: number; label: string }[];
}

/** Lines over a log x-axis and a linear y-axis from 0, with a legend on the right, as a standalone SVG string. */
export function lineChart(title: string, subtitle: string, series: readonly Series[], o: LineChartOptions): string {
  const left = 64;
  const plotWidth = 560;
  const legendWidth = 370;
  const top = 70;
  const plotHeight = 340;
  const width = left + plotWidth + 24 + legendWidth;
  const height = Math.max(top + plotHeight + 56, top + series.length * 22 + 20);
  const xs = series.flatMap((s) => s.points.map(([x]) => x)).filter((x) => x > 0);
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  const xLo = Math.min(...xs);
  const xHi = Math.max(...xs);
  const yHi = Math.max(1, ...ys, ...(o.references ?? []).map((r) => r.y)) * 1.08;
  const step = yHi > 4 ? 1 : yHi > 2 ? 0.5 : 0.25;
  const x = (v: number): number =>
    left + (xHi === xLo ? plotWidth / 2 : (plotWidth * (Math.log10(v) - Math.log10(xLo))) / (Math.log10(xHi) - Math.log10(xLo)));
  const y = (v: number): number => top + plotHeight - (plotHeight * Math.max(0, v)) / yHi;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600" fill="#222">${escape(title)}</text>`,
    `<text x="12" y="44" fill="#555">${escape(subtitle)}</text>`,
  ];
  for (let v = 0; v <= yHi; v += step) {
    const ty = y(v).toFixed(1);
    out.push(`<line x1="${left}" y1="${ty}" x2="${left + plotWidth}" y2="${ty}" stroke="#eee"/>`);
    out.push(`<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#666">${v.toFixed(step < 0.5 ? 2 : 1)}×</text>`);
  }
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) {
    const tx = x(v).toFixed(1);
    out.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + plotHeight}" stroke="#eee"/>`);
    out.push(`<text x="${tx}" y="${top + plotHeight + 18}" text-anchor="middle" fill="#666">${escape(o.formatX(v))}</text>`);
  }
  for (const r of o.references ?? []) {
    const ry = y(r.y).toFixed(1);
    out.push(`<line x1="${left}" y1="${ry}" x2="${left + plotWidth}" y2="${ry}" stroke="#888" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + 6}" y="${(y(r.y) - 5).toFixed(1)}" fill="#555">${escape(r.label)}</text>`);
  }
  out.push(`<text x="${left + plotWidth / 2}" y="${top + plotHeight + 40}" text-anchor="middle" fill="#333">${escape(o.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${top + plotHeight / 2}" text-anchor="middle" fill="#333" transform="rotate(-90 16 ${top + plotHeight / 2})">${escape(o.yLabel)}</text>`,
  );
  // Peers first, so the series the chart is about are drawn on top.
  const ordered = [...series].sort((a, b) => Number(a.strong ?? false) - Number(b.strong ?? false));
  for (const s of ordered) {
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    const path = pts.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="${s.strong ? 3 : 1.5}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} stroke-linejoin="round"/>`,
    );
    for (const [px, py] of pts)
      out.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="${s.strong ? 3.5 : 2.5}" fill="${s.colour}"/>`);
  }
  const lx = left + plotWidth + 24;
  series.forEach((s, i) => {
    const ly = top + i * 22;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${s.colour}" stroke-width="${s.strong ? 3 : 1.5}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
    );
    out.push(`<text x="${lx + 36}" y="${ly + 4}" fill="#222"${s.strong ? ' font-weight="600"' : ''}>${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
