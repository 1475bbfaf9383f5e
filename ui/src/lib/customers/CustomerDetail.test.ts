import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { Customer, Factor, SessionView, SignInAttempt, SocialLink } from '../shared/ipc/bindings';
import Harness from './DetailHarness.test.svelte';

afterEach(() => cleanup());

const customer: Customer = {
  id: 'c1', email: 'lost@example.com', email_verified: true, phone: null, display_name: 'Lost Phone',
  locale: 'en', attributes: {}, status: 'active', tier: 'standard', roles: [], mfa_enabled: true,
  created_at: '2026-11-01T09:00:00Z', updated_at: '2026-11-01T09:00:00Z', last_sign_in_at: null, version: 1,
};
const totp: Factor = { id: 'f1', kind: 'totp', name: 'Old phone', created_at: '2026-11-01T09:00:00Z', last_used_at: null, flagged_at: null };
const link: SocialLink = { provider_id: 'p1', provider: 'Upstream ID', email: 'lost@upstream.example', linked_at: '2026-11-01T09:00:00Z', last_used_at: null };

function session(permissions: SessionView['permissions']): SessionView {
  return {
    staff: { id: 's1', email: 'sup@shop.example', display_name: 'Sup', role: 'support', factor: 'not_required' },
    permissions,
    settings: { require_access_reason: false, idle_lock_minutes: 15, version: 0 },
    idle_lock_seconds: 900,
  };
}

describe('CustomerDetail sign-in methods', () => {
  it('support sees factors and connected accounts (never secrets) and removes a lost one only with a reason', async () => {
    const calls: { command: string; req: unknown }[] = [];
    let factors = [totp];
    const backend = {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        switch (command) {
          case 'get_customer': return customer;
          case 'customer_factors': return factors;
          case 'customer_connections': return [link];
          case 'remove_customer_factor': factors = []; return null;
          case 'customer_risk': return null;
          case 'customer_consent': return { state: [], ledger: [] };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers', 'remove_factors']) });
    await screen.findByRole('heading', { name: 'Sign-in methods' });
    await screen.findByText('Old phone');
    expect(screen.getByText('Authenticator app')).toBeTruthy();
    expect(screen.getByText('Upstream ID')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Remove' }));
    // The dialog will not confirm without a reason.
    await fireEvent.click(document.querySelector('#dialog-confirm') as HTMLButtonElement);
    expect(calls.some((c) => c.command === 'remove_customer_factor')).toBe(false);
    await fireEvent.input(document.querySelector('#dialog-reason') as HTMLInputElement, { target: { value: 'ticket 7: lost phone' } });
    await fireEvent.click(document.querySelector('#dialog-confirm') as HTMLButtonElement);
    await waitFor(() => expect(calls.some((c) => c.command === 'remove_customer_factor')).toBe(true));
    expect(calls.find((c) => c.command === 'remove_customer_factor')!.req).toEqual({ id: 'c1', item: 'f1', reason: 'ticket 7: lost phone' });
    await waitFor(() => expect(screen.queryByText('Old phone')).toBeNull());
  });

  it('without the permission there is nothing to remove', async () => {
    const backend = {
      call: async (command: string) => {
        switch (command) {
          case 'get_customer': return customer;
          case 'customer_factors': return [totp];
          case 'customer_connections': return [link];
          case 'customer_risk': return null;
          case 'customer_consent': return { state: [], ledger: [] };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers']) });
    await screen.findByText('Old phone');
    expect(screen.queryByRole('button', { name: 'Remove' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Disconnect' })).toBeNull();
  });
});

describe('CustomerDetail sign-in risk', () => {
  it('support sees each attempt’s decision, score and reasons in words, audit-only marked', async () => {
    const attempts: SignInAttempt[] = [
      {
        seq: 3, at: '2026-12-03T10:00:00Z', email: 'lost@example.com', customer_id: 'c1', outcome: 'challenged', reason: 'risk_challenged',
        method: 'password', ip: '198.51.100.77', user_agent: 'Mobile Safari', device: 'Safari on iOS', network: '198.51.100.0/24',
        country: 'FR', score: 40, decision: 'challenge', enforced: true,
        signals: [
          { signal: 'new_device', points: 25, evidence: 'new device: Safari on iOS; 1 other device seen in 180 days' },
          { signal: 'new_country', points: 20, evidence: 'new country FR; seen before: DE, NL in 180 days' },
        ],
      },
      {
        seq: 2, at: '2026-12-03T09:00:00Z', email: 'lost@example.com', customer_id: 'c1', outcome: 'success', reason: 'ok',
        method: 'password', ip: '192.0.2.10', user_agent: 'Firefox', device: 'Firefox on Linux', network: '192.0.2.0/24',
        country: null, score: 85, decision: 'deny', enforced: false, signals: [],
      },
      {
        seq: 1, at: '2026-11-03T09:00:00Z', email: 'lost@example.com', customer_id: 'c1', outcome: 'success', reason: 'ok',
        method: 'password', ip: '192.0.2.10', user_agent: 'Firefox', device: 'Firefox on Linux', network: '',
        country: null, score: null, decision: null, enforced: false, signals: [],
      },
    ];
    const backend = {
      call: async (command: string) => {
        switch (command) {
          case 'get_customer': return customer;
          case 'customer_attempts': return attempts;
          case 'customer_risk': return null;
          case 'customer_consent': return { state: [], ledger: [] };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers']) });
    await screen.findByText('new country FR; seen before: DE, NL in 180 days');
    expect(screen.getByText('new device: Safari on iOS; 1 other device seen in 180 days')).toBeTruthy();
    const badges = [...document.querySelectorAll('#attempts [data-decision]')].map((b) => b.textContent);
    expect(badges).toEqual(['challenge · 40', 'deny · 85']);
    expect(screen.getByText('audit only')).toBeTruthy();
    expect(screen.getByText('not scored')).toBeTruthy();
    // Support cannot decide: no review buttons on the record.
    expect(screen.queryByRole('button', { name: /legitimate|fraud/i })).toBeNull();
  });
});

describe('CustomerDetail privacy', () => {
  it('shows consent read-only to support and offers no export or erasure', async () => {
    const backend = {
      call: async (command: string) => {
        switch (command) {
          case 'get_customer': return customer;
          case 'customer_risk': return null;
          case 'customer_consent':
            return {
              state: [{ purpose_id: 'newsletter', name: 'Newsletter', consent_required: true, granted: true, version: 1, at: '2026-11-02T09:00:00Z', needs_reconsent: true }],
              ledger: [{ id: 'r1', seq: 1, customer_id: 'c1', purpose_id: 'newsletter', version: 1, locale: 'en', granted: true, at: '2026-11-02T09:00:00Z', channel: 'sign_up', client_id: null, staff_id: null, reason: null, ip: '', user_agent: '' }],
            };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers']) });
    await screen.findByText('Must be asked again');
    expect(screen.getByText('Sign-up page')).toBeTruthy();
    expect(document.querySelector('#action-export')).toBeNull();
    expect(document.querySelector('#action-erase')).toBeNull();
  });

  it('erases only after both steps, with the address typed and a reason', async () => {
    const calls: { command: string; req: unknown }[] = [];
    const backend = {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        switch (command) {
          case 'get_customer': return customer;
          case 'customer_risk': return null;
          case 'customer_consent': return { state: [], ledger: [] };
          case 'erase_customer':
            return {
              tombstone: { customer_id: 'c1', erased_at: '2026-11-03T09:00:00Z', requested_by: 'staff:s1', reason: 'ticket 9', kept: { consent_ledger: { rows: 1, basis: 'GDPR Art. 7(1)' } } },
              deleted: { customers: 1, sessions: 2 },
              anonymised: { sign_in_attempts: 4 },
              wal_truncated: true,
            };
          default: return [];
        }
      },
    };
    render(Harness, { backend, session: session(['read_customers', 'erase_customers']) });
    await fireEvent.click(await screen.findByRole('button', { name: 'Erase…' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    const confirm = () => document.querySelector('#erase-confirm') as HTMLButtonElement;
    expect(confirm().disabled).toBe(true);
    await fireEvent.input(document.querySelector('#erase-email') as HTMLInputElement, { target: { value: 'LOST@example.com' } });
    expect(confirm().disabled).toBe(true);
    await fireEvent.input(document.querySelector('#erase-reason') as HTMLInputElement, { target: { value: 'ticket 9' } });
    expect(confirm().disabled).toBe(false);
    await fireEvent.click(confirm());
    await screen.findByText('Customer erased');
    const call = calls.find((c) => c.command === 'erase_customer');
    expect(call?.req).toEqual({ id: 'c1', confirm_email: 'LOST@example.com', reason: 'ticket 9' });
    expect(screen.getByText(/3 records were deleted/)).toBeTruthy();
  });
});
