import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../shared/backend';
import type { CustomerSummary, SearchPage, SearchRequest } from '../shared/ipc/bindings';
import { CustomerSearch, PAGE_SIZE, type SearchState } from './search';

function customer(i: number): CustomerSummary {
  return {
    id: `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    email: `c${i}@example.com`,
    display_name: `Customer ${i}`,
    phone: null,
    status: 'active',
    email_verified: true,
  };
}

/** A backend whose search returns `total` customers in keyset pages. */
function fakeBackend(total: number, calls: SearchRequest[]): Backend {
  return {
    call: (async (command: string, req?: unknown) => {
      expect(command).toBe('search_customers');
      const r = req as SearchRequest;
      calls.push(r);
      const from = r.cursor ? Number(r.cursor) : 0;
      const to = Math.min(total, from + r.limit);
      const page: SearchPage = {
        items: Array.from({ length: to - from }, (_, k) => customer(from + k)),
        next: to < total ? String(to) : null,
      };
      return page;
    }) as Backend['call'],
  };
}

afterEach(() => vi.useRealTimers());

describe('CustomerSearch', () => {
  it('debounces typing into one query', async () => {
    vi.useFakeTimers();
    const calls: SearchRequest[] = [];
    let last: SearchState | null = null;
    const s = new CustomerSearch(fakeBackend(3, calls), (st) => (last = st), 150);
    s.input('a');
    s.input('an');
    s.input('ann');
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls.map((c) => c.query)).toEqual(['ann']);
    expect(last!.items).toHaveLength(3);
    expect(last!.done).toBe(true);
  });

  it('fetches keyset pages only on demand', async () => {
    const calls: SearchRequest[] = [];
    let last: SearchState | null = null;
    const s = new CustomerSearch(fakeBackend(PAGE_SIZE * 2 + 5, calls), (st) => (last = st));
    await s.run('c');
    expect(last!.items).toHaveLength(PAGE_SIZE);
    expect(calls).toHaveLength(1);
    await s.more();
    await s.more();
    expect(last!.items).toHaveLength(PAGE_SIZE * 2 + 5);
    expect(last!.done).toBe(true);
    await s.more();
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.limit === PAGE_SIZE)).toBe(true);
  });

  it('drops answers to outdated queries', async () => {
    let release: (p: SearchPage) => void = () => {};
    const backend: Backend = {
      call: (async (_c: string, req?: unknown) => {
        const r = req as SearchRequest;
        if (r.query === 'slow') return new Promise<SearchPage>((res) => (release = res));
        return { items: [customer(1)], next: null };
      }) as Backend['call'],
    };
    let last: SearchState | null = null;
    const s = new CustomerSearch(backend, (st) => (last = st));
    const slow = s.run('slow');
    await s.run('fast');
    release({ items: [customer(7), customer(8)], next: null });
    await slow;
    expect(last!.query).toBe('fast');
    expect(last!.items.map((i) => i.email)).toEqual(['c1@example.com']);
  });

  it('clearing the box clears the results', async () => {
    const calls: SearchRequest[] = [];
    let last: SearchState | null = null;
    const s = new CustomerSearch(fakeBackend(3, calls), (st) => (last = st));
    await s.run('x');
    s.input('   ');
    expect(last!.items).toHaveLength(0);
    expect(last!.query).toBe('');
  });
});
