// What the Security area shows about risk, in words and shapes: signal names, decision
// badges, the waves among queue items, chart scaling and a customer's sign-in timeline.
import type { Decision, ReviewDecision, ReviewItem, SignalKind, SignInAttempt } from '../shared/ipc/bindings';

/** What an analyst chose in the decision dialog (the items are added by the queue). */
export type Choice = Omit<ReviewDecision, 'attempts' | 'wave'>;

export const SIGNAL_NAMES: Record<SignalKind, string> = {
  new_device: 'New device',
  new_network: 'New network',
  new_country: 'New country',
  impossible_travel: 'Impossible travel',
  ip_velocity: 'Many accounts from one address',
  account_velocity: 'Many failures on the account',
  common_password: 'Common or breached password',
  inactivity: 'Long inactivity',
  bot_timing: 'Bot-like timing',
  shared_user_agent: 'One user agent on many accounts',
  blocked_ip: 'Blocked address',
};

export const SIGNALS = Object.keys(SIGNAL_NAMES) as SignalKind[];

export const DECISION_BADGE: Record<Decision, string> = {
  allow: 'ok',
  challenge: 'warn',
  deny: 'danger',
};

/** The ranges the items come from, most items first (ties by range): the waves. */
export function waves(items: ReviewItem[]): { network: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const i of items) {
    const n = i.attempt.network;
    if (n) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return [...counts.entries()]
    .map(([network, count]) => ({ network, count }))
    .sort((a, b) => b.count - a.count || a.network.localeCompare(b.network));
}

/** Heights between 0 and 1 against the largest value (all 0 when everything is 0). */
export function scale(values: number[]): { max: number; heights: number[] } {
  const max = values.reduce((m, v) => Math.max(m, v), 0);
  return { max, heights: values.map((v) => (max === 0 ? 0 : v / max)) };
}

/** "per minute", "per 15 minutes", "per 2 hours". */
export function intervalWords(minutes: number): string {
  if (minutes === 1) return 'per minute';
  if (minutes < 60) return `per ${minutes} minutes`;
  const h = minutes / 60;
  return h === 1 ? 'per hour' : `per ${h} hours`;
}

export type TimelinePoint = { seq: number; x: number; outcome: string; decision: Decision | null };

/** A customer's attempts placed on a line from the oldest (0) to the newest (1). */
export function timeline(attempts: SignInAttempt[]): TimelinePoint[] {
  if (attempts.length === 0) return [];
  const times = attempts.map((a) => new Date(a.at).getTime());
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  return attempts.map((a, i) => ({
    seq: a.seq,
    x: hi === lo ? 1 : ((times[i] ?? lo) - lo) / (hi - lo),
    outcome: a.outcome,
    decision: a.decision,
  }));
}

/** The colour class of an attempt's outcome. */
export function outcomeClass(outcome: string): string {
  if (outcome === 'success') return 'ok';
  if (outcome === 'challenged') return 'warn';
  return 'danger';
}

/** "24 h", "7 days", "1 h". */
export function hoursWords(hours: number): string {
  if (hours % 24 === 0 && hours >= 48) return `${hours / 24} days`;
  return `${hours} h`;
}
