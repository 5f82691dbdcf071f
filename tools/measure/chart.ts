// A small dependency-free SVG line-chart writer for benchmark results (several panels side by side,
// one line per series, linear or log axes, nice ticks, a legend).

/** One line of a chart. */
export interface Series {
  name: string;
  /** Points [x, y]; drawn in x order. */
  points: [number, number][];
}

/** One chart panel. */
export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic x axis (base 10). Default false. */
  logX?: boolean;
  /** Horizontal reference line (e.g. a budget), with its label. */
  refY?: { value: number; label: string };
}

/** Layout of a chart document. */
export interface ChartLayout {
  /** Panel width, px. Default 460. */
  panelWidth?: number;
  /** Panel height, px. Default 320. */
  panelHeight?: number;
  /** Caption under the panels (e.g. machine and date). */
  caption?: string;
  /** Panels per row. Default: all in one row. */
  columns?: number;
}

/** Line colours, in series order (colour-blind-safe Okabe-Ito palette). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

/** Escapes text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0];
  if (max <= min) max = min + (min === 0 ? 1 : Math.abs(min));
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

/** Short label for a tick value (1.5k, 2M, 0.25). */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();

function panelSvg(p: ChartPanel, x0: number, y0: number, w: number, h: number): string {
  const m = { left: 64, right: 16, top: 36, bottom: 72 };
  const pw = w - m.left - m.right;
  const ph = h - m.top - m.bottom;
  const all = p.series.flatMap((s) => s.points);
  const xs = all.map((q) => q[0]);
  const ys = all.map((q) => q[1]).concat(p.refY ? [p.refY.value] : []);
  const logX = p.logX === true && xs.every((x) => x > 0);
  const tx = (x: number): number => (logX ? Math.log10(x) : x);
  let xMin = xs.length ? Math.min(...xs.map(tx)) : 0;
  let xMax = xs.length ? Math.max(...xs.map(tx)) : 1;
  if (xMax === xMin) {
    xMin -= 0.5;
    xMax += 0.5;
  }
  const yTicks = niceTicks(0, ys.length ? Math.max(...ys) : 1, 5);
  const yMax = yTicks[yTicks.length - 1] || 1;
  const sx = (x: number): number => x0 + m.left + ((tx(x) - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number): number => y0 + m.top + ph - (y / yMax) * ph;
  const out: string[] = [];
  out.push(`<text x="${fmt(x0 + w / 2)}" y="${fmt(y0 + 20)}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`);
  for (const t of yTicks) {
    const y = sy(t);
    out.push(`<line x1="${fmt(x0 + m.left)}" y1="${fmt(y)}" x2="${fmt(x0 + m.left + pw)}" y2="${fmt(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${fmt(x0 + m.left - 6)}" y="${fmt(y + 4)}" text-anchor="end" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  const xTickValues = [...new Set(xs)].sort((a, b) => a - b);
  for (const t of xTickValues) {
    const x = sx(t);
    out.push(`<line x1="${fmt(x)}" y1="${fmt(y0 + m.top + ph)}" x2="${fmt(x)}" y2="${fmt(y0 + m.top + ph + 4)}" stroke="#333"/>`);
    out.push(`<text x="${fmt(x)}" y="${fmt(y0 + m.top + ph + 17)}" text-anchor="middle" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${fmt(x0 + m.left)}" y="${fmt(y0 + m.top)}" width="${fmt(pw)}" height="${fmt(ph)}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${fmt(x0 + m.left + pw / 2)}" y="${fmt(y0 + m.top + ph + 34)}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`);
  const ly = y0 + m.top + ph / 2;
  out.push(`<text x="${fmt(x0 + 14)}" y="${fmt(ly)}" text-anchor="middle" font-size="12" transform="rotate(-90 ${fmt(x0 + 14)} ${fmt(ly)})">${escapeXml(p.yLabel)}</text>`);
  if (p.refY) {
    const y = sy(p.refY.value);
    out.push(`<line x1="${fmt(x0 + m.left)}" y1="${fmt(y)}" x2="${fmt(x0 + m.left + pw)}" y2="${fmt(y)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${fmt(x0 + m.left + pw - 4)}" y="${fmt(y - 4)}" text-anchor="end" font-size="11" fill="#c00">${escapeXml(p.refY.label)}</text>`);
  }
  p.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 0) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${fmt(sx(x))},${fmt(sy(y))}`).join(' ')}"><title>${escapeXml(s.name)}</title></polyline>`);
      for (const [x, y] of pts) out.push(`<circle cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="3" fill="${color}"><title>${escapeXml(`${s.name}: ${formatTick(x)}, ${formatTick(y)}`)}</title></circle>`);
    }
    const lx = x0 + m.left + (i % 3) * (pw / 3);
    const lyy = y0 + m.top + ph + 52 + Math.floor(i / 3) * 14;
    out.push(`<rect x="${fmt(lx)}" y="${fmt(lyy - 8)}" width="12" height="3" fill="${color}"/>`);
    out.push(`<text x="${fmt(lx + 16)}" y="${fmt(lyy - 4)}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Renders panels side by side as one standalone SVG document. */
export function renderChartSvg(panels: readonly ChartPanel[], layout: ChartLayout = {}): string {
  const w = layout.panelWidth ?? 460;
  const h = layout.panelHeight ?? 320;
  const captionH = layout.caption ? 24 : 0;
  const cols = Math.max(1, Math.min(layout.columns ?? panels.length, panels.length));
  const rows = Math.max(1, Math.ceil(panels.length / cols));
  const width = w * cols;
  const height = h * rows + captionH;
  const body = panels.map((p, i) => panelSvg(p, (i % cols) * w, Math.floor(i / cols) * h, w, h)).join('\n');
  const caption = layout.caption ? `\n<text x="${fmt(width / 2)}" y="${fmt(h * rows + 16)}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(layout.caption)}</text>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${body}${caption}
</svg>
`;
}
