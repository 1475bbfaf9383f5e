// The Analytics area's logic, apart from its views: ranges and their granularities, the
// change against the previous period, failure spikes, and reading a chart's hover values.
import type { AnalyticsFilter, AnalyticsQuery, AnalyticsReport, Granularity, Kpis } from '../shared/ipc/bindings';

export type Preset = '24h' | '7d' | '30d' | '90d' | 'custom';

export const PRESETS: { id: Preset; label: string; days: number }[] = [
  { id: '24h', label: 'Last 24 hours', days: 1 },
  { id: '7d', label: 'Last 7 days', days: 7 },
  { id: '30d', label: 'Last 30 days', days: 30 },
  { id: '90d', label: 'Last 90 days', days: 90 },
  { id: 'custom', label: 'Custom range', days: 0 },
];

/** The longest range each granularity may cover, in days (the engine's limits). */
export const MAX_DAYS: Record<Granularity, number> = { hour: 31, day: 366, week: 1098, month: 1098 };

/** The granularity a range starts with. */
export function defaultGranularity(days: number): Granularity {
  if (days <= 2) return 'hour';
  if (days <= 120) return 'day';
  return 'week';
}

/** The granularities a range of `days` allows. */
export function granularitiesFor(days: number): Granularity[] {
  return (['hour', 'day', 'week', 'month'] as Granularity[]).filter((g) => days <= MAX_DAYS[g]);
}

const DAY = 86_400_000;

/** A preset's range ending now (to the next whole hour, so the current hour is in it). */
export function presetRange(p: Preset, now: Date): { from: Date; to: Date } {
  const to = new Date(Math.ceil(now.getTime() / 3_600_000) * 3_600_000);
  const days = PRESETS.find((x) => x.id === p)?.days || 7;
  return { from: new Date(to.getTime() - days * DAY), to };
}

/** The query the engine is asked. Dates from `<input type=date>` are UTC days, `to` included. */
export function buildQuery(
  p: Preset,
  now: Date,
  granularity: Granularity,
  filter: AnalyticsFilter,
  custom?: { from: string; to: string },
): AnalyticsQuery {
  let range = presetRange(p, now);
  if (p === 'custom' && custom) {
    const from = new Date(`${custom.from}T00:00:00Z`);
    const to = new Date(new Date(`${custom.to}T00:00:00Z`).getTime() + DAY);
    range = { from, to };
  }
  const clean: AnalyticsFilter = { client: null, method: null, country: null, tier: null };
  for (const k of ['client', 'method', 'country', 'tier'] as const) {
    const v = filter[k]?.trim();
    clean[k] = v ? v : null;
  }
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    granularity,
    filter: clean,
  };
}

/** Days a query covers. */
export function spanDays(q: AnalyticsQuery): number {
  return (Date.parse(q.to) - Date.parse(q.from)) / DAY;
}

export type Change = { text: string; direction: 'up' | 'down' | 'flat' | 'none' };

/** The change of a figure against the previous period, in words ("+12%", "no data before"). */
export function change(now: number | null, before: number | null, asPoints = false): Change {
  if (now === null || before === null) return { text: 'no data to compare', direction: 'none' };
  if (asPoints) {
    const d = (now - before) * 100;
    if (Math.abs(d) < 0.05) return { text: 'no change', direction: 'flat' };
    return { text: `${d > 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} points`, direction: d > 0 ? 'up' : 'down' };
  }
  if (before === 0) return now === 0 ? { text: 'no change', direction: 'flat' } : { text: 'new this period', direction: 'up' };
  const pct = ((now - before) / before) * 100;
  if (Math.abs(pct) < 0.5) return { text: 'no change', direction: 'flat' };
  return { text: `${pct > 0 ? '+' : '−'}${Math.abs(pct).toFixed(0)}%`, direction: pct > 0 ? 'up' : 'down' };
}

export type Tile = { id: string; label: string; value: string; change: Change; help: string };

function pct(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(1)}%`;
}

/** The dashboard's KPI tiles. */
export function tiles(k: Kpis, prev: Kpis, format: (n: number) => string): Tile[] {
  return [
    { id: 'registrations', label: 'Registrations', value: format(k.registrations), change: change(k.registrations, prev.registrations), help: 'new accounts' },
    { id: 'sign_ins', label: 'Sign-ins', value: format(k.sign_ins), change: change(k.sign_ins, prev.sign_ins), help: 'completed sign-ins' },
    { id: 'success_rate', label: 'Success rate', value: pct(k.success_rate), change: change(k.success_rate, prev.success_rate, true), help: 'of sign-in attempts' },
    { id: 'active', label: 'Active customers', value: format(k.active), change: change(k.active, prev.active), help: 'signed in at least once (estimate)' },
    { id: 'mfa_adoption', label: 'MFA adoption', value: pct(k.mfa_adoption), change: change(k.mfa_adoption, prev.mfa_adoption, true), help: 'of active customers' },
  ];
}

export type Spike = { at: string; failures: number; usual: number };

/** A bucket whose failed attempts are over three times the range's median (and at least 20). */
export function failureSpike(r: AnalyticsReport): Spike | null {
  const failures = r.attempts_by_outcome.find((s) => s.key === 'failure')?.values ?? [];
  if (failures.length < 3) return null;
  const sorted = [...failures].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let best: { i: number; v: number } | null = null;
  failures.forEach((v, i) => {
    if (v >= 20 && v > 3 * Math.max(median, 1) && (!best || v > best.v)) best = { i, v };
  });
  const found = best as { i: number; v: number } | null;
  const at = found ? r.buckets[found.i] : undefined;
  return found && at ? { at, failures: found.v, usual: median } : null;
}

/** What a hovered chart element says, from the attributes the renderer put on it. */
export function hoverValue(el: Element | null): { label: string; value: string } | null {
  const hit = el?.closest('[data-value]');
  if (!hit) return null;
  return { label: hit.getAttribute('data-label') ?? '', value: hit.getAttribute('data-value') ?? '' };
}

/** The size to draw charts at so that they show at their own pixels: the grid's columns of
 * at least 480 px with 14 px between, less the card's padding (jsdom and a hidden grid: 720). */
export function chartSize(gridWidth: number): { width: number; height: number } {
  if (!gridWidth || gridWidth < 200) return { width: 720, height: 340 };
  const columns = gridWidth >= 2 * 480 + 14 ? 2 : 1;
  const width = Math.max(320, Math.min(1400, Math.floor((gridWidth - 14 * (columns - 1)) / columns) - 14));
  return { width, height: Math.round(width * 0.5) };
}
