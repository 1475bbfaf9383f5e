import { describe, expect, it } from 'vitest';
import { actionName, formatCount, formatShortTime, roleName } from './format';

describe('format', () => {
  it('groups thousands the same everywhere', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1,000');
    expect(formatCount(1234567)).toBe('1,234,567');
  });
  it('names roles and audit actions for people', () => {
    expect(roleName('support')).toBe('Support agent');
    expect(actionName('customer.email_marked_verified')).toBe('Email marked verified');
  });
  it('gives short times for narrow cells, with the year only when it is not this one', () => {
    const now = new Date(2026, 11, 3, 15, 0);
    const thisYear = formatShortTime(new Date(2026, 10, 24, 13, 1).toISOString(), now);
    expect(thisYear.endsWith(', 13:01')).toBe(true);
    expect(thisYear).not.toContain('2026');
    expect(formatShortTime(new Date(2025, 0, 2, 9, 5).toISOString(), now)).toContain('2025');
    expect(formatShortTime(null)).toBe('—');
  });
});
