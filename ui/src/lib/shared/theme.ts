// The console's theme: the operating system's (prefers-color-scheme) unless the staff member
// picked light or dark, remembered on this machine. The effective theme is set as
// `data-theme` on the root element, which theme.css reads; charts are drawn for it.

export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

const KEY = 'vestibule.theme';
type Listener = (t: Theme) => void;
const listeners = new Set<Listener>();

function stored(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

/** What the staff member chose. */
export function themeChoice(): ThemeChoice {
  return stored();
}

/** The theme in effect now. */
export function currentTheme(): Theme {
  const c = stored();
  if (c === 'system') return systemDark() ? 'dark' : 'light';
  return c;
}

function apply() {
  const t = currentTheme();
  if (typeof document !== 'undefined') document.documentElement.dataset.theme = t;
  for (const l of listeners) l(t);
}

/** Choose a theme (and remember it). */
export function chooseTheme(c: ThemeChoice) {
  try {
    if (c === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, c);
  } catch {
    // Private storage unavailable: the choice lasts until the window closes.
  }
  apply();
}

/** Be told when the theme changes; returns the unsubscribe. */
export function onThemeChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Set the theme at start and follow the system's while it is the choice. */
export function initTheme() {
  apply();
  if (typeof matchMedia === 'function') {
    matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
      if (stored() === 'system') apply();
    });
  }
}
