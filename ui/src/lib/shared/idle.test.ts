import { describe, expect, it, vi } from 'vitest';
import { IdleTimer } from './idle';

describe('IdleTimer', () => {
  it('fires once after the timeout without activity', () => {
    let t = 0;
    const onIdle = vi.fn();
    const timer = new IdleTimer({ timeoutMs: 3000, onIdle, onActivity: () => {}, now: () => t });
    t = 2999;
    timer.tick();
    expect(onIdle).not.toHaveBeenCalled();
    t = 3000;
    timer.tick();
    timer.tick();
    expect(onIdle).toHaveBeenCalledTimes(1);
    expect(timer.idle).toBe(true);
  });

  it('activity postpones the lock and pings the shell at most every pingMs', () => {
    let t = 0;
    const onIdle = vi.fn();
    const onActivity = vi.fn();
    const timer = new IdleTimer({ timeoutMs: 60_000, onIdle, onActivity, now: () => t });
    expect(timer.pingMs).toBe(15_000);
    for (t = 0; t <= 100_000; t += 1000) {
      timer.activity();
      timer.tick();
    }
    expect(onIdle).not.toHaveBeenCalled();
    // One ping at t=0? No: lastPing starts at 0, so the first ping is at 15 s, then every 15 s.
    expect(onActivity).toHaveBeenCalledTimes(6);
    t += 60_000;
    timer.tick();
    expect(onIdle).toHaveBeenCalledTimes(1);
  });
});
