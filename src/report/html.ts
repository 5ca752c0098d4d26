import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FlowReport } from './flow-report.js';
import { CLIENT_SCRIPT, PAGE_STYLE } from './page-client.js';
import type { Report } from './report-data.js';

/** How a page is built: a report file (nothing fetched, ever) or the live dashboard. */
export interface PageOptions {
  /** The dashboard: the page asks the server for updates (server-sent events) and re-renders. */
  live: boolean;
}

let assets: { js: string; css: string } | undefined;

/** uPlot's script and style, read once from the installed package (they are inlined in every page). */
function uplotAssets(): { js: string; css: string } {
  if (!assets) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    assets = { js, css };
  }
  return assets;
}

/** Text that cannot end the `<script>` or `<style>` element it is put in. */
function inert(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON that is safe inside `<script type="application/json">`: no `<` survives as such. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * One self-contained HTML page of a report: its data as JSON, the script that draws it (with
 * uPlot inlined for the charts) and the style, nothing loaded from anywhere. Every text from the
 * store is put in with `textContent`, never as markup, and the Content-Security-Policy forbids
 * any request (the dashboard may ask its own server only).
 */
export function renderPage(report: Report | FlowReport, options: PageOptions): string {
  const { js, css } = uplotAssets();
  const title =
    report.kind === 'store'
      ? `ckpt: ${report.name}`
      : report.kind === 'flow'
        ? `ckpt flow: ${report.file}`
        : `ckpt: ${report.jobs.length} jobs`;
  const connect = options.live ? "'self'" : "'none'";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)}</title>
<style>${inert(css)}</style>
<style>${inert(PAGE_STYLE)}</style>
</head>
<body>
<main id="app" data-live="${options.live ? '1' : '0'}"><p>Loading…</p></main>
<script type="application/json" id="ckpt-data">${scriptJson(report)}</script>
<script>${inert(js)}</script>
<script>${inert(CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}
