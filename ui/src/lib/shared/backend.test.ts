import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { BackendError, TauriBackend, endsSession } from './backend';

afterEach(() => clearMocks());

describe('TauriBackend', () => {
  it('sends the request as { req } and returns the response', async () => {
    const seen: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return { items: [], next: null };
    });
    const page = await new TauriBackend().call('search_customers', { query: 'ann', cursor: null, limit: 50 });
    expect(page).toEqual({ items: [], next: null });
    expect(seen).toEqual([['search_customers', { req: { query: 'ann', cursor: null, limit: 50 } }]]);
  });

  it('commands without a request send no arguments', async () => {
    const seen: unknown[] = [];
    mockIPC((_cmd, args) => {
      seen.push(args);
      return null;
    });
    await new TauriBackend().call('sign_out');
    expect(seen).toEqual([{}]);
  });

  it('turns IPC errors into BackendError with code, message and field', async () => {
    mockIPC(() => {
      throw { code: 'invalid_input', message: 'reason: give a reason', field: 'reason' };
    });
    const err = await new TauriBackend()
      .call('get_customer', { id: '0190', reason: null })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('invalid_input');
    expect((err as BackendError).field).toBe('reason');
    expect((err as BackendError).message).toBe('reason: give a reason');
  });

  it('knows which codes end the session', () => {
    expect(endsSession('idle_locked')).toBe(true);
    expect(endsSession('not_signed_in')).toBe(true);
    expect(endsSession('forbidden')).toBe(false);
  });
});
