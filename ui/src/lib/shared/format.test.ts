import { describe, expect, it } from 'vitest';
import { actionName, formatCount, roleName } from './format';

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
});
