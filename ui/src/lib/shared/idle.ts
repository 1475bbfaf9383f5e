// The idle lock as the window sees it: any keyboard, pointer or wheel input is activity;
// after `timeoutMs` without any, `onIdle` runs once. Activity is reported to the shell at
// most every `pingMs` so the engine-side timer (which locks the vault) agrees.
export interface IdleOptions {
  timeoutMs: number;
  onIdle: () => void;
  onActivity: () => void;
  now?: () => number;
}

export class IdleTimer {
  private last: number;
  private lastPing = 0;
  private fired = false;
  private readonly now: () => number;
  readonly pingMs: number;

  constructor(private readonly opts: IdleOptions) {
    this.now = opts.now ?? (() => Date.now());
    this.last = this.now();
    this.pingMs = Math.max(1000, Math.min(15000, Math.floor(opts.timeoutMs / 3)));
  }

  /** Call on user input. */
  activity(): void {
    if (this.fired) return;
    const t = this.now();
    this.last = t;
    if (t - this.lastPing >= this.pingMs) {
      this.lastPing = t;
      this.opts.onActivity();
    }
  }

  /** Call periodically; fires `onIdle` once the timeout has passed. */
  tick(): void {
    if (!this.fired && this.now() - this.last >= this.opts.timeoutMs) {
      this.fired = true;
      this.opts.onIdle();
    }
  }

  get idle(): boolean {
    return this.fired;
  }
}
