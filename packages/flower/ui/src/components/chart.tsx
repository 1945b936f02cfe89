/** A uPlot time-series chart that follows its container's width and redraws when data changes. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
  /** Draw as bars (counts per minute) instead of a line; two bar series sit side by side. */
  bars?: 'left' | 'right' | 'center';
}

export function TimeChart({ x, ys, series, height = 220, yLabel, xRange }: { x: number[]; ys: Array<Array<number | null>>; series: Series[]; height?: number; yLabel?: string; /** Epoch seconds the x axis spans, whatever the data covers. */ xRange?: [number, number] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const xRangeRef = useRef(xRange);
  xRangeRef.current = xRange;
  const shape = series.map((s) => `${s.label}:${s.bars ? 'b' : 'l'}`).join('|');

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const align = { left: -1, right: 1, center: 0 } as const;
    const options: uPlot.Options = {
      width: element.clientWidth || 600,
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      // Bars centred on their minute need half a minute of room at either end.
      scales: {
        x: {
          time: true,
          range: (_u, min, max): uPlot.Range.MinMax => {
            const [from, to] = xRangeRef.current ?? [min, max];
            return series.some((s) => s.bars) ? [from - 45, to + 45] : [from, to];
          },
        },
      },
      axes: [
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#eef0f3' } },
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#eef0f3' }, ...(yLabel ? { label: yLabel } : {}), size: 56 },
      ],
      series: [
        {},
        ...series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(s.bars && uPlot.paths.bars
            ? { paths: uPlot.paths.bars({ size: [s.bars === 'center' ? 0.6 : 0.35, 24], align: align[s.bars] }), fill: `${s.color}bb` }
            : { fill: `${s.color}1a` }),
          points: { show: false },
        })),
      ],
    };
    plot.current = new uPlot(options, [x, ...ys] as uPlot.AlignedData, element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data updates go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData([x, ...ys] as uPlot.AlignedData);
  }, [x, ys]);

  return <div class="chart" ref={box} />;
}
