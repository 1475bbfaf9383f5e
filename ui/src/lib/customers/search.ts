// Search-as-you-type over keyset pages: a debounced query, results appended page by page as
// the list scrolls, and answers to outdated queries dropped (typing fast never shows stale
// results). Only pages the user scrolls to are fetched; nothing loads "all rows".
import type { Backend } from '../shared/backend';
import type { CustomerSummary } from '../shared/ipc/bindings';

export const PAGE_SIZE = 50;

export interface SearchState {
  query: string;
  items: CustomerSummary[];
  next: string | null;
  loading: boolean;
  done: boolean;
  error: string | null;
  /** Milliseconds the last page took (shown to the user). */
  tookMs: number | null;
}

export function emptyState(query = ''): SearchState {
  return { query, items: [], next: null, loading: false, done: true, error: null, tookMs: null };
}

export class CustomerSearch {
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  state: SearchState = emptyState();

  constructor(
    private readonly backend: Backend,
    private readonly onChange: (s: SearchState) => void,
    private readonly debounceMs = 150,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The query changed (typing): search again after the debounce. */
  input(query: string): void {
    if (this.timer) clearTimeout(this.timer);
    const q = query.trim();
    if (q === '') {
      this.generation++;
      this.set(emptyState());
      return;
    }
    this.timer = setTimeout(() => void this.run(q), this.debounceMs);
  }

  /** Search now (Enter, or tests). */
  async run(query: string): Promise<void> {
    const gen = ++this.generation;
    this.set({ ...emptyState(query), loading: true, done: false });
    await this.fetch(gen, null);
  }

  /** Fetch the next page if there is one (the list scrolled near its end). */
  async more(): Promise<void> {
    if (this.state.loading || this.state.done || this.state.next === null) return;
    this.set({ ...this.state, loading: true });
    await this.fetch(this.generation, this.state.next);
  }

  private async fetch(gen: number, cursor: string | null): Promise<void> {
    const started = this.now();
    try {
      const page = await this.backend.call('search_customers', {
        query: this.state.query,
        cursor,
        limit: PAGE_SIZE,
      });
      if (gen !== this.generation) return;
      this.set({
        ...this.state,
        items: cursor === null ? page.items : [...this.state.items, ...page.items],
        next: page.next,
        done: page.next === null,
        loading: false,
        error: null,
        tookMs: Math.round(this.now() - started),
      });
    } catch (e) {
      if (gen !== this.generation) return;
      this.set({ ...this.state, loading: false, done: true, error: (e as Error).message });
    }
  }

  private set(s: SearchState): void {
    this.state = s;
    this.onChange(s);
  }
}
