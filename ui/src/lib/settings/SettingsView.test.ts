import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import Harness from './SettingsHarness.test.svelte';
import type { Branding, UpstreamProvider } from '../shared/ipc/bindings';

afterEach(() => cleanup());

const branding: Branding = { name: 'Shop', accent: '#3b4cc0', support_url: null, logo: null, version: 1 };
const upstream: UpstreamProvider = {
  id: 'p1', label: 'Upstream ID', issuer: 'https://id.example.com', client_id: 'shop', scopes: 'openid email profile',
  created_at: '2026-11-01T09:00:00Z',
};

describe('Settings: sign-in pages and providers', () => {
  it('saves the branding with its version and shows an engine refusal at the form', async () => {
    const sent: unknown[] = [];
    const backend = {
      call: async (command: string, req?: unknown) => {
        switch (command) {
          case 'get_settings': return { require_access_reason: false, idle_lock_minutes: 15, version: 1 };
          case 'get_branding': return branding;
          case 'list_providers': return [];
          case 'update_branding': {
            sent.push(req);
            const b = req as Branding;
            if (b.accent === '#ffff00') throw { code: 'invalid_input', message: 'accent: too light for white text', field: 'accent' };
            return { ...b, version: b.version + 1 };
          }
          default: throw new Error(command);
        }
      },
    };
    render(Harness, { backend });
    const name = (await screen.findByLabelText('Organisation name')) as HTMLInputElement;
    await fireEvent.input(name, { target: { value: 'Shop Example' } });
    await fireEvent.input(document.querySelector('#branding-accent')!, { target: { value: '#ffff00' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save branding' }));
    expect((await screen.findByRole('alert')).textContent).toContain('too light');
    await fireEvent.input(document.querySelector('#branding-accent')!, { target: { value: '#0b6e4f' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save branding' }));
    await screen.findByText(/Branding saved/);
    expect(sent[1]).toEqual({ name: 'Shop Example', accent: '#0b6e4f', support_url: null, logo: null, version: 1 });
  });

  it('adds a provider (the secret is sent once, never listed) and removes one after confirming', async () => {
    let listed: UpstreamProvider[] = [];
    const calls: { command: string; req: unknown }[] = [];
    const backend = {
      call: async (command: string, req?: unknown) => {
        calls.push({ command, req });
        switch (command) {
          case 'get_settings': return { require_access_reason: false, idle_lock_minutes: 15, version: 1 };
          case 'get_branding': return branding;
          case 'list_providers': return listed;
          case 'add_provider': listed = [upstream]; return upstream;
          case 'remove_provider': listed = []; return null;
          default: throw new Error(command);
        }
      },
    };
    render(Harness, { backend });
    await screen.findByText(/None yet/);
    await fireEvent.input(screen.getByLabelText('Button label'), { target: { value: 'Upstream ID' } });
    await fireEvent.input(screen.getByLabelText('Issuer URL'), { target: { value: 'https://id.example.com' } });
    await fireEvent.input(screen.getByLabelText('Client id'), { target: { value: 'shop' } });
    await fireEvent.input(screen.getByLabelText('Client secret'), { target: { value: 's3cret' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    await screen.findByText('Continue with Upstream ID');
    expect(calls.find((c) => c.command === 'add_provider')!.req).toEqual({
      label: 'Upstream ID', issuer: 'https://id.example.com', client_id: 'shop', client_secret: 's3cret', scopes: null,
    });
    expect(document.body.textContent).not.toContain('s3cret');
    await fireEvent.click(screen.getByRole('button', { name: 'Remove' }));
    await fireEvent.click(document.querySelector('#dialog-confirm') as HTMLButtonElement);
    await waitFor(() => expect(screen.queryByText('Continue with Upstream ID')).toBeNull());
    expect(calls.some((c) => c.command === 'remove_provider')).toBe(true);
  });
});
