import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnalyticsReport, AnalyticsView, Kpis } from '../shared/ipc/bindings';
import Harness from './DashboardHarness.test.svelte';
import { buildQuery, change, defaultGranularity, failureSpike, granularitiesFor, hoverValue, tiles } from './analytics';

afterEach(() => cleanup());

function kpis(over: Partial<Kpis> = {}): Kpis {
  return {
    from: '2026-11-24T00:00:00Z', to: '2026-12-01T00:00:00Z', registrations: 120, sign_ins: 900, attempts: 1000,
    failed_attempts: 100, success_rate: 0.9, active: 400, mfa_adoption: 0.25, passkey_adoption: 0.1, ...over,
  };
}

function report(failures: number[]): AnalyticsReport {
  const buckets = failures.map((_, i) => new Date(Date.UTC(2026, 10, 24 + i)).toISOString());
  return {
    query: { from: buckets[0]!, to: '2026-12-01T00:00:00Z', granularity: 'day', filter: { client: null, method: null, country: null, tier: null } },
    buckets, registrations: failures.map(() => 10), verified: failures.map(() => 8),
    sign_ins_by_method: [{ key: 'password', values: failures.map(() => 100) }],
    attempts_by_outcome: [{ key: 'success', values: failures.map(() => 100) }, { key: 'failure', values: failures }],
    attempts_by_method: [], failure_reasons: [], risk_decisions: [], factors_added: [], active: [], dau: 1, wau: 2, mau: 3,
    funnel: [], consent: [], heatmap: [], kpis: kpis(), previous: kpis({ registrations: 100, success_rate: 0.85, sign_ins: 0 }),
    sketch_error: 0.0163, counted_events: 5000, as_of: '2026-12-01T09:00:00Z',
  };
}

describe('analytics helpers', () => {
  it('builds queries with clean filters and the granularities a range allows', () => {
    const now = new Date('2026-12-01T09:30:00Z');
    const q = buildQuery('7d', now, 'day', { client: ' shop ', method: '', country: null, tier: null });
    expect(q.to).toBe('2026-12-01T10:00:00.000Z');
    expect(q.from).toBe('2026-11-24T10:00:00.000Z');
    expect(q.filter).toEqual({ client: 'shop', method: null, country: null, tier: null });
    const custom = buildQuery('custom', now, 'week', { client: null, method: null, country: null, tier: null }, { from: '2026-10-01', to: '2026-10-31' });
    expect(custom.from).toBe('2026-10-01T00:00:00.000Z');
    expect(custom.to).toBe('2026-11-01T00:00:00.000Z');
    expect(granularitiesFor(1)).toEqual(['hour', 'day', 'week', 'month']);
    expect(granularitiesFor(90)).toEqual(['day', 'week', 'month']);
    expect(granularitiesFor(400)).toEqual(['week', 'month']);
    expect([1, 30, 200].map(defaultGranularity)).toEqual(['hour', 'day', 'week']);
  });

  it('says how a figure changed, honestly when there is nothing to compare', () => {
    expect(change(120, 100)).toEqual({ text: '+20%', direction: 'up' });
    expect(change(80, 100)).toEqual({ text: '−20%', direction: 'down' });
    expect(change(5, 0)).toEqual({ text: 'new this period', direction: 'up' });
    expect(change(0, 0).direction).toBe('flat');
    expect(change(null, 0.5).direction).toBe('none');
    expect(change(0.9, 0.85, true)).toEqual({ text: '+5.0 points', direction: 'up' });
    const t = tiles(kpis(), kpis({ active: 500 }), String);
    expect(t.map((x) => x.id)).toEqual(['registrations', 'sign_ins', 'success_rate', 'active', 'mfa_adoption']);
    expect(t.find((x) => x.id === 'active')?.change.text).toBe('−20%');
    expect(t.find((x) => x.id === 'success_rate')?.value).toBe('90.0%');
  });

  it('finds a failure spike and ignores ordinary noise', () => {
    expect(failureSpike(report([30, 35, 28, 400, 31, 29, 33]))).toEqual({ at: '2026-11-27T00:00:00.000Z', failures: 400, usual: 31 });
    expect(failureSpike(report([30, 35, 28, 60, 31, 29, 33]))).toBeNull();
    expect(failureSpike(report([0, 0, 0, 12, 0]))).toBeNull();
  });

  it('reads hover values from the renderer’s attributes', () => {
    document.body.innerHTML = '<svg><g><rect data-label="Nov 24 · password" data-value="12"></rect></g><text id="t">x</text></svg>';
    expect(hoverValue(document.querySelector('rect'))).toEqual({ label: 'Nov 24 · password', value: '12' });
    expect(hoverValue(document.getElementById('t'))).toBeNull();
  });
});

describe('the dashboard and the Analytics area', () => {
  const svg = (name: string) => `<svg role="img" data-chart="${name}"><g class="points"><rect data-label="Nov 24 · ${name}" data-value="7"></rect></g></svg>`;
  function backend(calls: { command: string; req: unknown }[], failures = [30, 35, 28, 400, 31, 29, 33]) {
    return {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        if (command === 'analytics_view') {
          const r = req as { charts: string[] };
          const view: AnalyticsView = {
            report: report(failures),
            charts: r.charts.map((name) => ({ name, title: name, svg: svg(name) })),
            sparklines: ['registrations', 'sign_ins', 'active', 'success_rate', 'mfa_adoption'].map((name) => ({ name, title: name, svg: svg(name) })),
          };
          return view;
        }
        if (command === 'export_chart') return { path: '/home/ana/sign-ins.png', rows: 1234 };
        throw new Error(command);
      },
    };
  }

  it('shows the KPI tiles with their change, and a spike leads to the review queue', async () => {
    const calls: { command: string; req: unknown }[] = [];
    const went: string[] = [];
    render(Harness, { backend: backend(calls), which: 'dashboard', onNavigate: (v: string) => went.push(v) });
    await screen.findByText('Registrations');
    expect(document.querySelector('#kpi-registrations .change')?.textContent).toBe('+20%');
    expect(document.querySelector('#kpi-sign_ins .change')?.textContent).toBe('new this period');
    expect(document.querySelectorAll('.spark svg').length).toBe(5);
    const spike = await screen.findByRole('alert');
    expect(spike.textContent).toContain('400 failed sign-in attempts');
    await fireEvent.click(screen.getByText('Open the review queue'));
    await fireEvent.click(screen.getByText('Open Analytics'));
    expect(went).toEqual(['security', 'analytics']);
    const q = calls[0]?.req as { query: { granularity: string }; theme: string };
    expect(q.query.granularity).toBe('day');
    expect(['light', 'dark']).toContain(q.theme);
  });

  it('draws every chart, shows hover values, and exports through the save dialog', async () => {
    const calls: { command: string; req: unknown }[] = [];
    render(Harness, { backend: backend(calls), which: 'analytics' });
    await waitFor(() => expect(document.querySelectorAll('#analytics-charts figure').length).toBe(10));
    expect(screen.getByText(/events counted/).textContent).toContain('±1.6%');
    const rect = document.querySelector('#chart-funnel rect[data-value]')!;
    await fireEvent.pointerMove(rect, { clientX: 10, clientY: 10 });
    expect((await screen.findByText('7')).closest('#tip-funnel')).not.toBeNull();
    await fireEvent.click(document.getElementById('export-funnel-png')!);
    await screen.findByText('Saved /home/ana/sign-ins.png');
    const exp = calls.find((c) => c.command === 'export_chart')?.req as { chart: string; format: string };
    expect(exp).toMatchObject({ chart: 'funnel', format: 'png' });
    // A new range asks again with the granularity it allows.
    const range = document.getElementById('analytics-range') as HTMLSelectElement;
    range.value = '24h';
    await fireEvent.change(range);
    await waitFor(() => {
      const last = calls.filter((c) => c.command === 'analytics_view').at(-1)?.req as { query: { granularity: string } };
      expect(last.query.granularity).toBe('hour');
    });
  });
});
