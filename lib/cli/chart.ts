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
    out.push(`<rect x="${labelWidth}" y="${y + 6}" width="${Math.max(1, end - labelWidth).toFixed(1)}" height="${rowHeight - 10}" fill="${COLOURS[bar.kind]}" rx="2"/>`);
    out.push(`<text x="${(end + 6).toFixed(1)}" y="${y + 19}" fill="#222">${escape(bar.note ?? formatMs(bar.value))}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
