/**
 * The script and style of a report page (html.ts). The script is plain browser JavaScript, kept
 * here as text: it reads the page's JSON data, draws the views with DOM calls (store texts only
 * through `textContent`), and on the dashboard re-draws on every server-sent `change`.
 */

export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 20px; margin: 8px 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.sub { color: #5b6476; font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 16px; } .card span { color: #5b6476; font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
th, td { border-bottom: 1px solid #e6e9ef; padding: 4px 8px; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: #a3261b; }
.timeline { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; }
.warn { background: #fff4e5; border: 1px solid #f0c27b; padding: 6px 10px; border-radius: 6px; margin: 4px 0; }
.ok { color: #1f7a3a; } .note { color: #5b6476; }
a { color: #2456b3; }
.state-finished { color: #1f7a3a; } .state-failed, .state-supervisor-died, .state-fenced, .state-store-unreadable, .state-journal-unreadable { color: #a3261b; }
.state-running, .state-requeued, .state-interrupted { color: #2456b3; }
.status-done, .status-cached { color: #1f7a3a; } .status-failed, .status-blocked { color: #a3261b; }
.status-running, .status-queued { color: #2456b3; }
`;

export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var app = document.getElementById('app');
  var live = app.getAttribute('data-live') === '1';
  var plots = [];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) {
      if (k === 'text') node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    return node;
  }
  function bytes(n) {
    if (n === null || n === undefined) return '';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000;
    if (s < 120) return s.toFixed(1) + ' s';
    var m = s / 60;
    return m < 120 ? m.toFixed(1) + ' min' : (m / 60).toFixed(1) + ' h';
  }
  function card(label, value, cls) {
    return el('div', { class: 'card' }, [el('b', { text: String(value), class: cls || '' }), el('span', { text: label })]);
  }
  function segmentOutcome(s) {
    var reason = (s.endReason || '').toLowerCase();
    if (!s.ended) return ['running', '#2456b3'];
    if (reason.indexOf('time limit') >= 0 || reason.indexOf('deadline') >= 0) return ['time limit', '#c98a14'];
    if (reason.indexOf('requeue') >= 0 || reason.indexOf('preempt') >= 0) return ['requeued', '#6b4bb3'];
    if (reason.indexOf('node failure') >= 0) return ['node failure', '#a3261b'];
    if (reason.indexOf('cancel') >= 0 || reason.indexOf('stop') >= 0) return ['stopped', '#5b6476'];
    if (s.exit && s.exit.code === 0) return ['finished', '#1f7a3a'];
    if (s.exit && (s.exit.signal || s.exit.code !== 0)) return ['crash', '#a3261b'];
    return ['ended', '#5b6476'];
  }
  function segmentText(s, i) {
    var from = s.resumeFrom ? 'resumed from #' + s.resumeFrom.seq + ' (step ' + s.resumeFrom.step + ')' : 'fresh start';
    var end = s.exit ? (s.exit.startError ? 'could not start' : s.exit.signal ? 'killed by ' + s.exit.signal : 'exit ' + s.exit.code) : s.ended ? 'ended' : 'running';
    var job = s.slurm ? ' [SLURM ' + s.slurm.jobId + (s.slurm.arrayTaskId ? '_' + s.slurm.arrayTaskId : '') + ']' : '';
    return (i + 1) + '. ' + from + ' → ' + end + (s.endReason ? ' (' + s.endReason + ')' : '') + job;
  }

  function timeline(r) {
    var segs = r.status.segments;
    var cps = r.checkpoints.filter(function (c) { return c.time; });
    var times = [];
    segs.forEach(function (s) { times.push(Date.parse(s.started)); if (s.ended) times.push(Date.parse(s.ended)); });
    cps.forEach(function (c) { times.push(Date.parse(c.time)); });
    r.marks.forEach(function (m) { times.push(Date.parse(m.time)); });
    if (times.length === 0) return el('p', { class: 'note', text: 'Nothing journaled yet.' });
    var t0 = Math.min.apply(null, times);
    var now = Date.parse(r.generatedAt);
    var t1 = Math.max(now, Math.max.apply(null, times));
    var W = 1000, left = 10, right = 10, rowH = 22, top = 30;
    var H = top + Math.max(1, segs.length) * rowH + 24;
    var x = function (t) { return left + ((t - t0) / Math.max(1, t1 - t0)) * (W - left - right); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', class: 'timeline', role: 'img', 'aria-label': 'timeline' });
    root.appendChild(svg('text', { x: left, y: 14, 'font-size': 11, fill: '#5b6476', text: 'checkpoints and events' }));
    cps.forEach(function (c) {
      var tick = svg('rect', { x: x(Date.parse(c.time)) - 1, y: 18, width: 2, height: 8, fill: c.problem ? '#a3261b' : '#2456b3', class: 'cp-mark', 'data-seq': c.seq });
      tick.appendChild(svg('title', { text: '#' + c.seq + ' step ' + c.step + ': ' + bytes(c.bytes) + ', ' + bytes(c.writtenBytes) + ' written, commit ' + duration(c.durationMs) + (c.problem ? ' — ' + c.problem : '') }));
      root.appendChild(tick);
    });
    r.marks.forEach(function (m) {
      var cx = x(Date.parse(m.time));
      var tri = svg('path', { d: 'M' + (cx - 4) + ' 18 L' + (cx + 4) + ' 18 L' + cx + ' 26 Z', fill: '#c98a14', class: 'event-mark' });
      tri.appendChild(svg('title', { text: m.kind + ': ' + m.detail + ' (' + m.time + ')' }));
      root.appendChild(tri);
    });
    segs.forEach(function (s, i) {
      var a = x(Date.parse(s.started));
      var b = x(s.ended ? Date.parse(s.ended) : now);
      var outcome = segmentOutcome(s);
      var y = top + i * rowH;
      var bar = svg('rect', { x: a, y: y, width: Math.max(2, b - a), height: rowH - 6, rx: 3, fill: outcome[1], opacity: 0.85, class: 'segment', 'data-outcome': outcome[0] });
      bar.appendChild(svg('title', { text: segmentText(s, i) + '; ' + s.started + ' → ' + (s.ended || 'now') + (s.lostMs ? '; lost ' + duration(s.lostMs) : '') }));
      root.appendChild(bar);
      root.appendChild(svg('text', { x: Math.min(a + 4, W - 300), y: y + rowH - 10, 'font-size': 11, fill: '#1d2330', text: segmentText(s, i) }));
    });
    root.appendChild(svg('text', { x: left, y: H - 6, 'font-size': 11, fill: '#5b6476', text: new Date(t0).toISOString() }));
    root.appendChild(svg('text', { x: W - right, y: H - 6, 'font-size': 11, fill: '#5b6476', 'text-anchor': 'end', text: new Date(t1).toISOString() }));
    return root;
  }

  function chart(id, title, series, xs, ys, fmt) {
    var box = el('div', { id: id, class: 'chart' });
    if (typeof uPlot === 'undefined' || xs.length < 2) {
      box.appendChild(el('p', { class: 'note', text: title + ': charts need two checkpoints or more.' }));
      return box;
    }
    var opts = {
      title: title,
      width: Math.min(1150, (app.clientWidth || 1000) - 10),
      height: 220,
      series: [{}].concat(series.map(function (s) { return { label: s[0], stroke: s[1], width: 2, value: function (u, v) { return v === null ? '' : fmt(v); } }; })),
      axes: [{}, { values: function (u, vals) { return vals.map(fmt); }, size: 70 }],
    };
    plots.push({ box: box, make: function () { return new uPlot(opts, [xs].concat(ys), box); } });
    return box;
  }

  function storeView(r) {
    var s = r.status;
    var wrap = el('section', { class: 'store', id: 'job-' + r.name, 'data-store': r.name });
    wrap.appendChild(el('h1', { text: r.name }));
    wrap.appendChild(el('div', { class: 'sub', text: r.path + ' — as of ' + r.generatedAt }));
    var last = s.lastCheckpoint;
    wrap.appendChild(el('div', { class: 'cards', id: 'summary' }, [
      card('state', s.state, 'state-' + s.state),
      card('segments', s.segments.length),
      card('restarts', s.restarts),
      card('checkpoints', r.checkpoints.length),
      card('last checkpoint', last ? '#' + last.seq + ' (step ' + last.step + ')' : 'none'),
      card('work lost', duration(s.workLostMs) || '0 ms'),
    ]));
    if (r.holder) wrap.appendChild(el('div', { class: 'sub', text: 'Writer: ' + r.holder }));
    if (r.warnings.length) {
      var warns = el('div', { id: 'warnings' });
      r.warnings.forEach(function (w) { warns.appendChild(el('div', { class: 'warn', text: w })); });
      wrap.appendChild(warns);
    }
    wrap.appendChild(el('h2', { text: 'Timeline' }));
    wrap.appendChild(timeline(r));
    var segList = el('ol', { class: 'segments' });
    s.segments.forEach(function (seg, i) {
      segList.appendChild(el('li', { text: segmentText(seg, i).replace(/^\d+\. /, '') + (seg.lostMs ? ' — lost ' + duration(seg.lostMs) : '') }));
    });
    wrap.appendChild(segList);
    var ok = r.checkpoints.filter(function (c) { return c.time && c.problem === null; });
    var xs = ok.map(function (c) { return Date.parse(c.time) / 1000; });
    wrap.appendChild(el('h2', { text: 'Checkpoints' }));
    wrap.appendChild(chart('chart-size-' + r.name, 'size and bytes written', [['size', '#2456b3'], ['written', '#c98a14']], xs,
      [ok.map(function (c) { return c.bytes; }), ok.map(function (c) { return c.writtenBytes; })], bytes));
    wrap.appendChild(chart('chart-time-' + r.name, 'commit time', [['commit', '#1f7a3a']], xs,
      [ok.map(function (c) { return c.durationMs; })], duration));
    var why = r.resumeFrom === null ? 'The next start is a fresh start: no checkpoint can be used.'
      : 'The next start resumes from #' + r.resumeFrom + ': the newest checkpoint whose manifest verifies and whose chunks are all there.';
    wrap.appendChild(el('p', { class: 'why', text: why }));
    r.skipped.forEach(function (k) { wrap.appendChild(el('div', { class: 'warn', text: 'skipped #' + k.seq + ': ' + k.reason })); });
    var shown = r.checkpoints.slice(-200).reverse();
    var rows = shown.map(function (c) {
      return el('tr', { class: c.problem ? 'bad' : '', 'data-seq': c.seq }, [
        el('td', { class: 'num', text: '#' + c.seq }), el('td', { class: 'num', text: c.step === null ? '' : String(c.step) }),
        el('td', { text: c.time || '' }), el('td', { class: 'num', text: bytes(c.bytes) }),
        el('td', { class: 'num', text: bytes(c.writtenBytes) }), el('td', { class: 'num', text: duration(c.durationMs) }),
        el('td', { text: c.problem || (c.seq === r.resumeFrom ? 'resume point' : 'ok') }),
      ]);
    });
    var head = el('tr', {}, ['seq', 'step', 'time', 'size', 'written', 'commit', 'state'].map(function (h, i) {
      return el('th', { class: i === 0 || i === 1 || (i >= 3 && i <= 5) ? 'num' : '', text: h });
    }));
    wrap.appendChild(el('table', { class: 'checkpoints' }, [el('thead', {}, [head]), el('tbody', {}, rows)]));
    if (r.checkpoints.length > shown.length) {
      wrap.appendChild(el('p', { class: 'note', text: (r.checkpoints.length - shown.length) + ' older checkpoints are in the charts, not in the table.' }));
    }
    return wrap;
  }

  function directoryView(d) {
    var wrap = el('section', { class: 'directory' });
    wrap.appendChild(el('h1', { text: d.jobs.length + ' jobs in ' + d.path }));
    wrap.appendChild(el('div', { class: 'sub', text: 'as of ' + d.generatedAt }));
    var rows = d.jobs.map(function (j) {
      var last = j.status.lastCheckpoint;
      return el('tr', { 'data-store': j.name }, [
        el('td', {}, [el('a', { href: '#job-' + j.name, text: j.name })]),
        el('td', { class: 'state-' + j.status.state, text: j.status.state }),
        el('td', { class: 'num', text: String(j.status.segments.length) }),
        el('td', { class: 'num', text: String(j.status.restarts) }),
        el('td', { class: 'num', text: String(j.checkpoints.length) }),
        el('td', { text: last ? '#' + last.seq + ' (step ' + last.step + ')' : 'none' }),
        el('td', { class: 'num', text: String(j.warnings.length) }),
      ]);
    });
    var head = el('tr', {}, ['job', 'state', 'segments', 'restarts', 'checkpoints', 'last checkpoint', 'warnings'].map(function (h) { return el('th', { text: h }); }));
    wrap.appendChild(el('table', { class: 'jobs' }, [el('thead', {}, [head]), el('tbody', {}, rows)]));
    d.jobs.forEach(function (j) { wrap.appendChild(storeView(j)); });
    return wrap;
  }

  var OUTCOME_COLOUR = { done: '#1f7a3a', failed: '#a3261b', retry: '#c98a14', cancelled: '#5b6476', lost: '#6b4bb3', resubmit: '#6b4bb3', superseded: '#5b6476', 'cut off': '#a3261b' };

  function flowTimeline(r) {
    var bars = r.attempts;
    if (bars.length === 0) return el('p', { class: 'note', text: 'No attempt journaled yet.' });
    var now = Date.parse(r.generatedAt);
    var t0 = Math.min.apply(null, bars.map(function (b) { return Date.parse(b.started); }));
    var t1 = Math.max.apply(null, bars.map(function (b) { return b.ended ? Date.parse(b.ended) : b.outcome ? Date.parse(b.started) : now; }));
    var W = 1000, left = 10, right = 10, rowH = 18, top = 8;
    var H = top + bars.length * rowH + 24;
    var x = function (t) { return left + ((t - t0) / Math.max(1, t1 - t0)) * (W - left - right); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', class: 'timeline', role: 'img', 'aria-label': 'attempts' });
    bars.forEach(function (b, i) {
      var a = x(Date.parse(b.started));
      var e = x(b.ended ? Date.parse(b.ended) : b.outcome ? Date.parse(b.started) : now);
      var y = top + i * rowH;
      var label = b.task + ' #' + b.attempt + (b.job ? ' [job ' + b.job + ']' : '');
      var rect = svg('rect', { x: a, y: y, width: Math.max(2, e - a), height: rowH - 4, rx: 3, fill: b.outcome ? OUTCOME_COLOUR[b.outcome] || '#5b6476' : '#2456b3', opacity: 0.85, class: 'attempt', 'data-outcome': b.outcome || 'running' });
      rect.appendChild(svg('title', { text: label + ': ' + (b.outcome || 'running') + (b.error ? ' — ' + b.error : '') + '; ' + b.started + ' → ' + (b.ended || 'now') }));
      root.appendChild(rect);
      root.appendChild(svg('text', { x: Math.min(a + 4, W - 320), y: y + rowH - 7, 'font-size': 10, fill: '#1d2330', text: label }));
    });
    root.appendChild(svg('text', { x: left, y: H - 6, 'font-size': 11, fill: '#5b6476', text: new Date(t0).toISOString() }));
    root.appendChild(svg('text', { x: W - right, y: H - 6, 'font-size': 11, fill: '#5b6476', 'text-anchor': 'end', text: new Date(t1).toISOString() }));
    return root;
  }

  function flowView(r) {
    var wrap = el('section', { class: 'flow' });
    wrap.appendChild(el('h1', { text: r.file }));
    wrap.appendChild(el('div', { class: 'sub', text: 'as of ' + r.generatedAt }));
    var totals = {};
    r.steps.forEach(function (s) { for (var k in s.counts) totals[k] = (totals[k] || 0) + s.counts[k]; });
    var order = ['done', 'cached', 'queued', 'running', 'failed', 'pending', 'blocked'];
    wrap.appendChild(el('div', { class: 'cards', id: 'summary' }, order.filter(function (k) { return totals[k]; }).map(function (k) { return card(k, totals[k], 'status-' + k); })));
    var head = el('tr', {}, ['step', 'executor', 'tasks', 'states'].map(function (h) { return el('th', { text: h }); }));
    var stepRows = r.steps.map(function (s) {
      var states = order.filter(function (k) { return s.counts[k]; }).map(function (k) { return s.counts[k] + ' ' + k; }).join(', ');
      return el('tr', { 'data-step': s.name }, [el('td', { text: s.name }), el('td', { text: s.executor }), el('td', { class: 'num', text: String(s.tasks) }), el('td', { text: states })]);
    });
    wrap.appendChild(el('h2', { text: 'Steps' }));
    wrap.appendChild(el('table', { class: 'steps' }, [el('thead', {}, [head]), el('tbody', {}, stepRows)]));
    wrap.appendChild(el('h2', { text: 'Attempts' }));
    wrap.appendChild(flowTimeline(r));
    var runs = el('ol', { class: 'runs' });
    r.runs.forEach(function (run) { runs.appendChild(el('li', { text: 'head run ' + run.run + ': ' + run.started + ' → ' + (run.ended || '…') + ' — ' + run.summary })); });
    wrap.appendChild(runs);
    wrap.appendChild(el('h2', { text: 'Tasks' }));
    var thead = el('tr', {}, ['task', 'step', 'status', 'attempts', 'SLURM job', 'error'].map(function (h) { return el('th', { text: h }); }));
    var taskRows = r.tasks.map(function (t) {
      return el('tr', { 'data-task': t.task, class: t.status === 'failed' ? 'bad' : '' }, [
        el('td', { text: t.task }), el('td', { text: t.step }), el('td', { class: 'status-' + t.status, text: t.status }),
        el('td', { class: 'num', text: String(t.attempts) }), el('td', { text: t.job || '' }), el('td', { text: t.error || '' }),
      ]);
    });
    wrap.appendChild(el('table', { class: 'tasks' }, [el('thead', {}, [thead]), el('tbody', {}, taskRows)]));
    if (r.moreTasks > 0) wrap.appendChild(el('p', { class: 'note', text: r.moreTasks + ' more tasks are counted in the steps, not listed.' }));
    return wrap;
  }

  function render(report) {
    plots.splice(0).forEach(function (p) { if (p.plot) p.plot.destroy(); });
    var view = report.kind === 'flow' ? flowView(report) : report.kind === 'directory' ? directoryView(report) : storeView(report);
    app.replaceChildren(view);
    plots.forEach(function (p) { p.plot = p.make(); });
    app.setAttribute('data-generated', report.generatedAt);
    if (report.kind === 'flow') app.setAttribute('data-attempts', String(report.attempts.length));
    else app.setAttribute('data-checkpoints', String(report.kind === 'store' ? report.checkpoints.length : report.jobs.reduce(function (n, j) { return n + j.checkpoints.length; }, 0)));
  }

  render(JSON.parse(document.getElementById('ckpt-data').textContent));
  if (live) {
    var pending = false;
    var refresh = function () {
      if (pending) return;
      pending = true;
      fetch('api/report', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (data) {
        pending = false;
        render(data);
      }, function () { pending = false; });
    };
    var events = new EventSource('api/events', { withCredentials: true });
    events.addEventListener('change', refresh);
  }
})();
`;
