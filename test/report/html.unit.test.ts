/**
 * A report page holds texts from the store (names, messages, journal details), which a hostile
 * store can fill with markup: none of it may end the data's <script> element or become markup.
 */
import { describe, expect, it } from 'vitest';
import { type Report, renderPage, scriptJson } from '../../src/report/index.js';

const EVIL = '</script><script>alert(1)</script><!--\u2028';

describe('the report page', () => {
  it('keeps hostile texts inside its JSON data, where no < survives', () => {
    expect(scriptJson({ name: EVIL })).not.toContain('<');
    expect(JSON.parse(scriptJson({ name: EVIL }))).toEqual({ name: EVIL });
    const report = {
      kind: 'directory',
      path: EVIL,
      generatedAt: '2026-12-07T00:00:00.000Z',
      jobs: [],
    } as unknown as Report;
    const html = renderPage(report, { live: false });
    // Exactly the page's own three scripts: the data, uPlot, and the page's code.
    expect(html.match(/<script/g)).toHaveLength(3);
    expect(html).not.toContain('alert(1)</script>');
    expect(html).toContain("connect-src 'none'");
    expect(renderPage(report, { live: true })).toContain("connect-src 'self'");
  });
});
