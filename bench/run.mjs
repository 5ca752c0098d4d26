// npm run bench: every benchmark, one after the other (they must not share the machine).
await import('./store.mjs');
await import('./supervisor.mjs');
await import('./dedup.mjs');
await import('./file-changes.mjs');
await import('./ui.mjs');
