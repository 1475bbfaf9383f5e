import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import App from './App.svelte';
import type { Backend } from './shared/backend';
import type { AppStatus, Permission, SessionView, StaffFactor } from './shared/ipc/bindings';

afterEach(() => cleanup());

const status: AppStatus = {
  vault_path: '/tmp/test.vault',
  vault_exists: true,
  demo: false,
  demo_accounts: [],
  demo_customers: 20000,
  session: null,
};

function sessionFor(
  role: 'support' | 'admin',
  permissions: Permission[],
  factor: StaffFactor = role === 'admin' ? 'verified' : 'not_required',
): SessionView {
  return {
    staff: { id: '0190', email: `${role}@shop.example`, display_name: `The ${role}`, role, factor },
    permissions,
    settings: { require_access_reason: false, idle_lock_minutes: 15, version: 0 },
    idle_lock_seconds: 900,
  };
}

function backend(handlers: Record<string, (req: unknown) => unknown>): Backend {
  return {
    call: (async (command: string, req?: unknown) => {
      const h = handlers[command];
      if (!h) throw { code: 'internal', message: `unexpected ${command}`, field: null };
      return h(req);
    }) as Backend['call'],
  };
}

async function signIn() {
  await fireEvent.input(await screen.findByLabelText('Staff email'), { target: { value: 'a@shop.example' } });
  await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 'some password' } });
  await fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('App', () => {
  it('an admin with an authenticator gives its code before the console opens; a wrong code says so', async () => {
    const codes: string[] = [];
    render(App, {
      backend: backend({
        app_status: () => status,
        sign_in: () => sessionFor('admin', [], 'code_needed'),
        verify_code: (req) => {
          const { code } = req as { code: string };
          codes.push(code);
          if (code !== '123456') throw { code: 'invalid_input', message: 'code: that code is not right', field: 'code' };
          return sessionFor('admin', ['manage_staff', 'read_customers', 'manage_settings']);
        },
        search_customers: () => ({ items: [], next: null }),
      }),
    });
    await signIn();
    await screen.findByRole('heading', { name: 'Enter your authenticator code' });
    expect(screen.queryByRole('button', { name: 'Customers' })).toBeNull();
    await fireEvent.input(screen.getByLabelText('Code'), { target: { value: '000000' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect((await screen.findByRole('alert')).textContent).toContain('not right');
    await fireEvent.input(screen.getByLabelText('Code'), { target: { value: '123456' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    await screen.findByRole('button', { name: 'Customers' });
    expect(codes).toEqual(['000000', '123456']);
  });

  it('an admin without an authenticator sets one up first', async () => {
    render(App, {
      backend: backend({
        app_status: () => status,
        sign_in: () => sessionFor('admin', [], 'enrolment_needed'),
        begin_authenticator: () => ({ secret: 'JBSWY3DPEHPK3PXP', uri: 'otpauth://totp/x', qr_svg: '<svg></svg>' }),
        confirm_authenticator: () => sessionFor('admin', ['manage_staff', 'read_customers']),
        search_customers: () => ({ items: [], next: null }),
      }),
    });
    await signIn();
    await screen.findByRole('heading', { name: 'Set up an authenticator app' });
    expect((await screen.findByText('JBSWY3DPEHPK3PXP')).id).toBe('authenticator-secret');
    await fireEvent.input(screen.getByLabelText('Code'), { target: { value: '123456' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Turn on and continue' }));
    await screen.findByRole('button', { name: 'Customers' });
  });

  it('a wrong password gives a clear message and keeps the sign-in screen', async () => {
    render(App, {
      backend: backend({
        app_status: () => status,
        sign_in: () => {
          throw { code: 'invalid_credentials', message: 'the email address or password is not correct', field: null };
        },
      }),
    });
    await signIn();
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('do not open this vault');
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
  });

  it('a support agent sees Customers but no Staff or Settings', async () => {
    render(App, {
      backend: backend({
        app_status: () => status,
        sign_in: () => sessionFor('support', ['read_customers', 'resend_verification', 'start_password_reset', 'revoke_sessions', 'unlock_customers']),
        search_customers: () => ({ items: [], next: null }),
      }),
    });
    await signIn();
    await screen.findByRole('button', { name: 'Customers' });
    expect(screen.queryByRole('button', { name: 'Staff' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Settings' })).toBeNull();
    expect(screen.getByText('Support agent')).toBeTruthy();
  });

  it('an admin sees every area; first launch offers the demo vault with its accounts', async () => {
    render(App, {
      backend: backend({
        app_status: () => ({
          ...status,
          vault_exists: false,
          demo_accounts: [{ email: 'admin@demo.vestibule.example', role: 'admin', password: 'demo admin password' }],
        }),
      }),
    });
    await screen.findByText('Explore the demo vault');
    expect(screen.getByText('demo admin password')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Create vault' })).toBeTruthy();
  });

  it('the idle lock returns to sign-in with a message', async () => {
    let signedOut = false;
    const s = { ...sessionFor('admin', ['read_customers']), idle_lock_seconds: 1 };
    render(App, {
      backend: backend({
        app_status: () => (signedOut ? status : { ...status, session: s }),
        sign_out: () => {
          signedOut = true;
          return null;
        },
        search_customers: () => ({ items: [], next: null }),
      }),
    });
    await screen.findByRole('button', { name: 'Customers' });
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('locked after 1 seconds'), {
      timeout: 3000,
    });
    expect(signedOut).toBe(true);
  });
});
