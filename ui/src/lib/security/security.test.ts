import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReviewItem, SessionView, SignInAttempt } from '../shared/ipc/bindings';
import Harness from './QueueHarness.test.svelte';
import { intervalWords, scale, timeline, waves } from './risk';

afterEach(() => cleanup());

function attempt(seq: number, over: Partial<SignInAttempt> = {}): SignInAttempt {
  return {
    seq, at: '2026-12-02T10:00:00Z', email: `user${seq}@leaked.example`, customer_id: null, outcome: 'failure',
    reason: 'unknown_account', method: 'password', ip: '198.51.100.10', user_agent: 'Chrome/120', device: 'Chrome on Windows',
    network: '198.51.100.0/24', country: null, score: 75, decision: 'challenge', enforced: true,
    signals: [{ signal: 'ip_velocity', points: 50, evidence: 'failed sign-ins on 312 accounts from 198.51.100.10 in 10 min' }],
    ...over,
  };
}
const item = (a: SignInAttempt): ReviewItem => ({ attempt: a, status: 'open', assignee: null, note: '', decided_by: null, decided_at: null });

function session(permissions: SessionView['permissions']): SessionView {
  return {
    staff: { id: 'an1', email: 'analyst@shop.example', display_name: 'Ana', role: 'security', factor: 'verified' },
    permissions, settings: { require_access_reason: false, idle_lock_minutes: 15, version: 0 }, idle_lock_seconds: 900,
  };
}

describe('risk helpers', () => {
  it('finds waves, scales bars, names intervals and lays out a timeline', () => {
    const items = [item(attempt(1)), item(attempt(2)), item(attempt(3, { network: '172.58.14.0/24' }))];
    expect(waves(items)).toEqual([{ network: '198.51.100.0/24', count: 2 }, { network: '172.58.14.0/24', count: 1 }]);
    expect(scale([0, 5, 10])).toEqual({ max: 10, heights: [0, 0.5, 1] });
    expect(scale([0, 0]).heights).toEqual([0, 0]);
    expect([1, 15, 120].map(intervalWords)).toEqual(['per minute', 'per 15 minutes', 'per 2 hours']);
    const t = timeline([attempt(2, { at: '2026-12-02T12:00:00Z' }), attempt(1, { at: '2026-12-02T10:00:00Z' })]);
    expect(t.map((p) => p.x)).toEqual([1, 0]);
  });
});

describe('the review queue', () => {
  it('shows the reasons, decides a whole wave as fraud with a block, and one customer legitimate', async () => {
    const calls: { command: string; req: unknown }[] = [];
    const phone = attempt(9, {
      email: 'gina@example.com', customer_id: 'c9', ip: '172.58.14.9', network: '172.58.14.0/24', outcome: 'challenged',
      reason: 'risk_challenged', score: 40,
      signals: [
        { signal: 'new_device', points: 25, evidence: 'new device: Safari on iPhone; 1 other device seen in 180 days' },
        { signal: 'new_network', points: 15, evidence: 'new network 172.58.14.0/24; 1 other network seen in 180 days' },
      ],
    });
    let queue = [item(attempt(1, { score: 100, decision: 'deny' })), item(attempt(2)), item(phone)];
    const backend = {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        switch (command) {
          case 'review_queue': return queue;
          case 'review_analysts': return [{ id: 'an1', email: 'analyst@shop.example', display_name: 'Ana', role: 'security', status: 'active', version: 1, authenticator: true }];
          case 'customer_attempts': return [phone, attempt(8, { outcome: 'success', decision: 'allow', score: 0, signals: [], at: '2026-11-25T10:00:00Z' })];
          case 'decide_reviews': {
            const d = req as { wave: string | null; verdict: string };
            queue = d.wave ? queue.filter((i) => i.attempt.network !== d.wave) : queue.filter((i) => i.attempt.seq !== 9);
            return d.wave
              ? { decided: 1984, accounts_locked: 212, sessions_revoked: 40, passwords_reset: 0, trusted: 0, blocked: '198.51.100.0/24' }
              : { decided: 1, accounts_locked: 0, sessions_revoked: 0, passwords_reset: 0, trusted: 1, blocked: null };
          }
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers', 'review_risk', 'lock_customers']) });
    await screen.findByText('gina@example.com');
    const wave = await screen.findByText('Whole wave is fraud…');
    await fireEvent.click(wave);
    await screen.findByRole('heading', { name: 'Fraud: every open item from 198.51.100.0/24' });
    await fireEvent.click(document.querySelector('#decide-lock') as HTMLInputElement);
    expect((document.querySelector('#decide-block') as HTMLInputElement).checked).toBe(true);
    expect((document.querySelector('#decide-block-network') as HTMLInputElement).value).toBe('198.51.100.0/24');
    await fireEvent.click(document.querySelector('#decide-confirm') as HTMLButtonElement);
    await screen.findByText('Decided 1,984 items, 212 accounts locked, 40 sessions revoked, 198.51.100.0/24 blocked.');
    expect(calls.find((c) => c.command === 'decide_reviews')!.req).toEqual({
      verdict: 'fraud', lock: true, revoke_sessions: true, force_reset: false,
      block: { network: '198.51.100.0/24', hours: 24 }, note: '', attempts: [], wave: '198.51.100.0/24',
    });
    await waitFor(() => expect(screen.queryByText('user1@leaked.example')).toBeNull());

    // One item: its reasons and the customer's timeline, then legitimate.
    await fireEvent.click(screen.getByText('gina@example.com'));
    await screen.findByText('new network 172.58.14.0/24; 1 other network seen in 180 days');
    await waitFor(() => expect(document.querySelectorAll('#item-timeline circle').length).toBe(2));
    await fireEvent.click(document.querySelector('#item-legitimate') as HTMLButtonElement);
    await screen.findByRole('heading', { name: 'Legitimate: 1 item from 172.58.14.9' });
    await fireEvent.click(document.querySelector('#decide-confirm') as HTMLButtonElement);
    await screen.findByText('Decided 1 item, 1 device trusted.');
    const last = calls.filter((c) => c.command === 'decide_reviews').pop()!.req as Record<string, unknown>;
    expect(last).toMatchObject({ verdict: 'legitimate', attempts: [9], wave: null, lock: false, block: null });
  });

  it('refuses a bad filter by name without losing the list', async () => {
    const backend = {
      call: async (command: string, req?: unknown) => {
        if (command === 'review_queue' && (req as { network: string | null }).network === 'nonsense') {
          throw { code: 'invalid_input', message: 'network: filter by one address or by a /24 (IPv6: /48)', field: 'network' };
        }
        return command === 'review_queue' ? [item(attempt(1))] : [];
      },
    };
    render(Harness, { backend, session: session(['review_risk']) });
    await screen.findByText('user1@leaked.example');
    await fireEvent.input(document.querySelector('#filter-network') as HTMLInputElement, { target: { value: 'nonsense' } });
    await fireEvent.click(document.querySelector('#filter-apply') as HTMLButtonElement);
    await screen.findByText('network: filter by one address or by a /24 (IPv6: /48)');
    expect(document.querySelector('#filter-network')!.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('user1@leaked.example')).toBeTruthy();
  });
});

describe('the risk policy editor', () => {
  it('replays a draft, shows a refused draft by field, and publishes', async () => {
    const policy = {
      mode: 'enforce', challenge_at: 40, deny_at: 80, review_at: 40,
      signals: { new_device: { enabled: true, weight: 25 }, ip_velocity: { enabled: true, weight: 50 } },
      limits: { travel_kmh: 900, accounts_per_ip: 5, accounts_per_network: 20, accounts_per_asn: 200, accounts_per_user_agent: 50, velocity_minutes: 10, account_failures: 5, inactive_days: 180, bot_ms: 1500, history_days: 180 },
      version: 3,
    };
    const calls: { command: string; req: unknown }[] = [];
    const backend = {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        switch (command) {
          case 'get_risk_policy': return policy;
          case 'replay_risk_policy': {
            if ((req as typeof policy).deny_at < (req as typeof policy).challenge_at) {
              throw { code: 'invalid_input', message: 'challenge_at: the challenge threshold cannot be above the deny threshold', field: 'challenge_at' };
            }
            return { since: '2026-11-02T00:00:00Z', attempts: 5000, recorded: { allow: 4000, challenge: 600, deny: 400 }, candidate: { allow: 3900, challenge: 700, deny: 400 }, changed: 100, fraud_allowed: 0, legitimate_stopped: 2, examples: [], caveats: ['Throttling is not replayed.'] };
          }
          case 'update_risk_policy': return { ...(req as object), version: 4 };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['review_risk', 'manage_settings']) });
    await fireEvent.click(await screen.findByRole('tab', { name: 'Risk policy' }));
    const deny = (await screen.findByLabelText('Deny from score')) as HTMLInputElement;
    await fireEvent.input(deny, { target: { value: '30' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Replay last 30 days' }));
    await screen.findByText('challenge_at: the challenge threshold cannot be above the deny threshold');
    expect(document.querySelector('#policy-challenge')!.getAttribute('aria-invalid')).toBe('true');
    await fireEvent.input(deny, { target: { value: '70' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Replay last 30 days' }));
    await screen.findByText('2 sign-ins analysts marked legitimate would be challenged or denied.');
    expect(document.querySelector('#replay-challenge')!.textContent).toBe('700');
    await fireEvent.click(screen.getByRole('button', { name: 'Publish…' }));
    await fireEvent.click(document.querySelector('#dialog-confirm') as HTMLButtonElement);
    await screen.findByText('Policy version 4 is in force.');
    expect((calls.find((c) => c.command === 'update_risk_policy')!.req as typeof policy).deny_at).toBe(70);
  });
});
