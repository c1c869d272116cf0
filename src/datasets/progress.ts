/**
 * Progress of a dataset command: a bar redrawn in place on a terminal (images/s, ETA, errors,
 * shard), and one summary line at a fixed interval when stderr is not a terminal (CI,
 * Kubernetes logs), so that logs stay readable. The arithmetic and the text are pure functions
 * (tested); the reporter only keeps time and writes.
 */

export interface ProgressState {
  /** Units this run processes (its part, without those already complete). */
  readonly units: number;
  readonly unitsDone: number;
  /** Images in the current unit, when known before reading it (files; not tar shards). */
  readonly unitImages: number | undefined;
  readonly unitImagesDone: number;
  /** Shard file being written. */
  readonly shard: string | undefined;
  readonly images: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Mean images per unit so far, to place a tar shard's progress before its end is known. */
  readonly meanUnitImages: number | undefined;
}

/** Fraction of this run's work done, in [0, 1]. */
export function fractionDone(s: ProgressState): number {
  if (s.units === 0) return 1;
  const perUnit = s.unitImages ?? s.meanUnitImages;
  const partial = perUnit !== undefined && perUnit > 0 ? Math.min(0.99, s.unitImagesDone / perUnit) : 0;
  return Math.min(1, (s.unitsDone + (s.unitsDone < s.units ? partial : 0)) / s.units);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

function rate(s: ProgressState): number {
  return s.elapsedMs > 0 ? (s.images + s.errors) / (s.elapsedMs / 1000) : 0;
}

function eta(s: ProgressState): string {
  const fraction = fractionDone(s);
  if (fraction <= 0 || s.elapsedMs <= 0) return '?';
  return formatDuration(((s.elapsedMs / 1000) * (1 - fraction)) / fraction);
}

/** One line for logs: `progress: 42% | 1234 images, 3 errors | 87.3 images/s | ETA 0:43 | shard 12/40 (shard-00023.parquet)`. */
export function formatLine(s: ProgressState): string {
  const shard = `shard ${Math.min(s.unitsDone + 1, s.units)}/${s.units}${s.shard ? ` (${s.shard})` : ''}`;
  return `progress: ${Math.floor(fractionDone(s) * 100)}% | ${s.images} images, ${s.errors} errors | ${rate(s).toFixed(1)} images/s | ETA ${eta(s)} | ${shard}`;
}

/** The terminal bar, fitted to `columns`. */
export function formatBar(s: ProgressState, columns: number): string {
  const fraction = fractionDone(s);
  const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% ${s.images} img ${rate(s).toFixed(1)}/s ETA ${eta(s)} err ${s.errors} shard ${Math.min(s.unitsDone + 1, s.units)}/${s.units}`;
  const width = Math.max(10, Math.min(40, columns - tail.length - 3));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`.slice(0, Math.max(0, columns - 1));
}

export type ProgressMode = 'bar' | 'lines' | 'off';

export interface ProgressOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/** Counts events and writes the bar or the lines. */
export class ProgressReporter {
  private units = 0;
  private unitsDone = 0;
  private unitImages: number | undefined;
  private unitImagesDone = 0;
  private shard: string | undefined;
  private images = 0;
  private errors = 0;
  private imagesInDoneUnits = 0;
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastBar = '';

  constructor(
    private readonly mode: ProgressMode,
    private readonly output: ProgressOutput,
    private readonly intervalMs: number,
  ) {}

  static modeFor(requested: 'auto' | ProgressMode, output: ProgressOutput): ProgressMode {
    if (requested !== 'auto') return requested;
    return output.isTTY ? 'bar' : 'lines';
  }

  begin(units: number): void {
    this.units = units;
    this.started = performance.now();
    if (this.mode === 'off') return;
    this.timer = setInterval(() => this.render(), this.mode === 'bar' ? 250 : this.intervalMs);
    this.timer.unref();
  }

  unitStarted(shard: string, images: number | undefined): void {
    this.shard = shard;
    this.unitImages = images;
    this.unitImagesDone = 0;
  }

  imageDone(bad: boolean): void {
    if (bad) this.errors++;
    else this.images++;
    this.unitImagesDone++;
  }

  unitDone(): void {
    this.unitsDone++;
    this.imagesInDoneUnits += this.unitImagesDone;
    this.unitImagesDone = 0;
    this.unitImages = undefined;
  }

  state(): ProgressState {
    return {
      units: this.units,
      unitsDone: this.unitsDone,
      unitImages: this.unitImages,
      unitImagesDone: this.unitImagesDone,
      shard: this.shard,
      images: this.images,
      errors: this.errors,
      elapsedMs: performance.now() - this.started,
      meanUnitImages: this.unitsDone > 0 ? this.imagesInDoneUnits / this.unitsDone : undefined,
    };
  }

  /** Stops the timer; a bar is completed and its line ended. */
  end(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'bar' && this.lastBar !== '') {
      this.render();
      this.output.write('\n');
    }
  }

  private render(): void {
    const state = this.state();
    if (this.mode === 'lines') {
      this.output.write(`${formatLine(state)}\n`);
    } else if (this.mode === 'bar') {
      this.lastBar = formatBar(state, this.output.columns ?? 80);
      this.output.write(`\r${this.lastBar}\u001b[K`);
    }
  }
}
