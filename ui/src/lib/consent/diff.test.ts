import { describe, expect, it } from 'vitest';
import { diffLines } from './diff';

describe('diffLines', () => {
  it('keeps common lines and marks what was removed and added', () => {
    const d = diffLines('We email news.\nWithdraw any time.', 'We email news and offers.\nWithdraw any time.');
    expect(d).toEqual([
      { kind: 'removed', text: 'We email news.' },
      { kind: 'added', text: 'We email news and offers.' },
      { kind: 'same', text: 'Withdraw any time.' },
    ]);
  });

  it('handles empty texts on either side', () => {
    expect(diffLines('', 'New')).toEqual([{ kind: 'added', text: 'New' }]);
    expect(diffLines('Old', '')).toEqual([{ kind: 'removed', text: 'Old' }]);
    expect(diffLines('', '')).toEqual([]);
  });
});
