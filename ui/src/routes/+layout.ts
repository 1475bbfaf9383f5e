// The console is a single-page app inside Tauri: no server rendering, no prerendered data.
export const ssr = false;
export const prerender = false;
