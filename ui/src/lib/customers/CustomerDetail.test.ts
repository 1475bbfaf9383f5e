import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { Customer, Factor, SessionView, SocialLink } from '../shared/ipc/bindings';
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
