import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import Harness from './SettingsHarness.test.svelte';
import type { AttributeDefinition, AttributeDefinitions, Branding, UpstreamProvider } from '../shared/ipc/bindings';

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
          case 'get_attribute_definitions': return { definitions: [], version: 0 };
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
          case 'get_attribute_definitions': return { definitions: [], version: 0 };
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

describe('Settings: customer attributes', () => {
  const shoe: AttributeDefinition = {
    name: 'shoe_size', label: 'Shoe size', kind: 'number', options: [], max_length: null, pattern: null,
    min: 30, max: 50, customer_editable: true, ask: 'sign_in', after_sign_ins: 2, scope: null,
  };

  function backendWith(start: AttributeDefinitions, refuse?: (d: AttributeDefinitions) => string | null) {
    let current = start;
    const sent: AttributeDefinitions[] = [];
    return {
      sent,
      backend: {
        call: async (command: string, req?: unknown) => {
          switch (command) {
            case 'get_settings': return { require_access_reason: false, idle_lock_minutes: 15, version: 1 };
            case 'get_branding': return branding;
            case 'list_providers': return [];
            case 'get_attribute_definitions': return current;
            case 'update_attribute_definitions': {
              const d = req as AttributeDefinitions;
              sent.push(d);
              const why = refuse?.(d);
              if (why) throw { code: 'invalid_input', message: why, field: 'name' };
              current = { definitions: d.definitions, version: d.version + 1 };
              return current;
            }
            default: throw new Error(command);
          }
        },
      },
    };
  }

  it('lists the attributes and says when each is asked', async () => {
    const { backend } = backendWith({ definitions: [shoe], version: 3 });
    render(Harness, { backend });
    await screen.findByText('Shoe size');
    expect(document.querySelector('#attributes-table')!.textContent).toContain('From sign-in 2');
  });

  it('adds a choice asked at sign-up, sending the whole list with the version read; a refusal is shown', async () => {
    const { backend, sent } = backendWith({ definitions: [shoe], version: 3 }, (d) =>
      d.definitions.some((a) => a.name === 'email') ? '"email" is a standard claim; choose another name' : null,
    );
    render(Harness, { backend });
    await fireEvent.click(await screen.findByRole('button', { name: 'Add attribute' }));
    await fireEvent.input(screen.getByLabelText('Label'), { target: { value: 'Loyalty club' } });
    await fireEvent.input(document.querySelector('#attribute-name')!, { target: { value: 'email' } });
    await fireEvent.change(document.querySelector('#attribute-kind')!, { target: { value: 'choice' } });
    await fireEvent.input(await screen.findByLabelText('Options, one per line'), { target: { value: 'silver\n gold \n' } });
    await fireEvent.change(document.querySelector('#attribute-ask')!, { target: { value: 'sign_up' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save attribute' }));
    expect((await screen.findByRole('alert')).textContent).toContain('standard claim');
    // The form stays open with what was typed; fixing the name saves.
    await fireEvent.input(document.querySelector('#attribute-name')!, { target: { value: 'club' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save attribute' }));
    await screen.findByText(/"Loyalty club" saved/);
    expect(sent[1]).toEqual({
      version: 3,
      definitions: [shoe, {
        name: 'club', label: 'Loyalty club', kind: 'choice', options: ['silver', 'gold'], max_length: null,
        pattern: null, min: null, max: null, customer_editable: true, ask: 'sign_up', after_sign_ins: 0, scope: null,
      }],
    });
    expect(document.querySelector('#attributes-table')!.textContent).toContain('At sign-up');
  });

  it('removes an attribute only after confirming', async () => {
    const { backend, sent } = backendWith({ definitions: [shoe], version: 3 });
    render(Harness, { backend });
    await fireEvent.click(await screen.findByRole('button', { name: 'Remove Shoe size' }));
    expect(sent).toHaveLength(0);
    await fireEvent.click(document.querySelector('#dialog-confirm') as HTMLButtonElement);
    await screen.findByText(/"Shoe size" removed/);
    expect(sent[0]).toEqual({ definitions: [], version: 3 });
    await screen.findByText('None yet.');
  });
});
