// Browser tests of the web map (run by tests/web_map.sh, which starts the servers).
// playwright-core drives Debian's Chromium; every check reads what the browser drew or
// showed, not the page's code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.KMAPA_URL;
const STATIC = process.env.KMAPA_STATIC_URL;
const TOKEN = process.env.KMAPA_TOKEN;
const PUBLIC_TOKEN = process.env.KMAPA_PUBLIC_TOKEN;
const ADMIN_TOKEN = process.env.KMAPA_ADMIN_TOKEN;
const OUT = process.env.KMAPA_TEST_OUTPUT || 'test-output/web';
assert.ok(BASE && STATIC && TOKEN && PUBLIC_TOKEN && ADMIN_TOKEN, 'run through tests/web_map.sh');
fs.mkdirSync(OUT, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-quic',
      '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
});
after(async () => { await browser.close(); });

async function open(url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, ...options });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.kmapa && window.kmapa.ready, null, { timeout: 60000 });
  await page.waitForFunction(() => window.kmapa.districtsLoaded > 0, null, { timeout: 30000 });
  return { page, context, requests, errors };
}
const renders = (page) => page.evaluate(() => window.kmapa.renders);
async function afterRender(page, action) {
  const n = await renders(page);
  await action();
  await page.waitForFunction((k) => window.kmapa.renders > k, n, { timeout: 30000 });
}
const legend = (page) => page.locator('#legend').innerText();
const drawn = (page) => page.evaluate(() => window.kmapa.map.queryRenderedFeatures({ layers: ['units-fill'] }).length);

// A point on screen (page coordinates) whose topmost drawn unit satisfies `want`, found
// by asking the map what it drew at a grid of points.
async function findPoint(page, want) {
  return page.evaluate((wantSrc) => {
    const ok = new Function('p', `return (${wantSrc})(p);`);
    const m = window.kmapa.map;
    const canvas = m.getCanvas().getBoundingClientRect();
    const shown = window.kmapa.shown();
    for (let y = 30; y < canvas.height - 30; y += 9) {
      for (let x = 30; x < canvas.width - 30; x += 9) {
        const at = (px, py) => { const f = m.queryRenderedFeatures([px, py], { layers: ['units-fill'] })[0]; return f ? f.properties.i : -1; };
        const i = at(x, y);
        // Well inside the unit, not on its edge.
        const inside = i >= 0 && [[-6, 0], [6, 0], [0, -6], [0, 6]].every(([dx, dy]) => at(x + dx, y + dy) === i);
        if (inside && ok(shown[i])) return { x: canvas.left + x, y: canvas.top + y, unit: shown[i].unit };
      }
    }
    return null;
  }, want.toString());
}

test('the vendored MapLibre GL JS is the npm package in package-lock.json, with its licence', async () => {
  const { check } = await import('./vendor.mjs');
  const { version, differ } = check();
  assert.deepEqual(differ, [], `web/vendor/maplibre-gl vs npm maplibre-gl ${version}`);
  const served = await (await fetch(`${BASE}/web/vendor/maplibre-gl/LICENSE.txt`)).text();
  assert.match(served, /Copyright/);
});

async function getJSON(url) { const r = await fetch(url); assert.equal(r.status, 200, url); return r.json(); }

test('first load: districts drawn, no request leaves 127.0.0.1, under 2 MB; timings reported', async () => {
  const { page, context, requests, errors } = await open(BASE + '/');
  assert.ok(await drawn(page) >= 40, 'district polygons are drawn');
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const mark = performance.getEntriesByName('kmapa-interactive')[0];
    return {
      transfer_bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
      decoded_bytes: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
      requests: res.length + 1,
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      interactive_ms: Math.round(mark.startTime),
    };
  });
  fs.writeFileSync(path.join(OUT, 'first-load.json'), JSON.stringify(perf, null, 2) + '\n');
  console.log('first load:', JSON.stringify(perf));
  assert.ok(perf.transfer_bytes > 100000, 'the page loaded MapLibre and data over the wire');
  assert.ok(perf.transfer_bytes < 2 * 1024 * 1024, `first load transfers ${perf.transfer_bytes} bytes`);
  const outside = requests.filter((u) => !u.startsWith(BASE + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(outside, [], 'no request outside the server');
  assert.match(await page.locator('footer').innerText(), /OpenStreetMap/);
  assert.match(await page.locator('footer').innerText(), /SYNTETYCZNE/);
  // Without a basemap the footer credits the boundaries, and no box lies over the map.
  assert.equal(await page.locator('.maplibregl-ctrl-attrib').count(), 0);
  await page.screenshot({ path: path.join(OUT, 'map.png') });
  assert.deepEqual(errors, []);
  await context.close();
});

test('changing category and year changes the drawn values and the legend; state goes into the URL', async () => {
  const { page, context } = await open(BASE + '/?category=any_ops');
  const before = JSON.stringify(await page.evaluate(() => window.kmapa.shown()));
  const legendBefore = await legend(page);
  await afterRender(page, () => page.selectOption('#category', 'any_pup'));
  const afterCat = JSON.stringify(await page.evaluate(() => window.kmapa.shown()));
  assert.notEqual(afterCat, before, 'values change with the category');
  assert.notEqual(await legend(page), legendBefore, 'the legend changes with the category');
  assert.match(await legend(page), /PUP/);
  // The values drawn are the API's, feature for feature.
  const year = await page.locator('#year-value').innerText();
  const api = await getJSON(`${BASE}/collections/problems-districts/items?category=any_pup&year=${year}&limit=1000`);
  const drawnValues = Object.fromEntries((await page.evaluate(() => window.kmapa.shown())).map((s) => [s.unit, s.v]));
  for (const f of api.features) assert.equal(drawnValues[f.properties.unit], f.properties.value, f.properties.unit);

  const legendYear = await legend(page);
  await page.focus('#year');
  await afterRender(page, () => page.keyboard.press('ArrowLeft'));
  assert.equal(await page.locator('#year-value').innerText(), String(Number(year) - 1));
  assert.notEqual(JSON.stringify(await page.evaluate(() => window.kmapa.shown())), afterCat, 'values change with the year');
  assert.notEqual(await legend(page), legendYear);

  await afterRender(page, () => page.selectOption('#measure', 'rate_per_1000'));
  assert.match(await legend(page), /na 1000/);
  await afterRender(page, () => page.selectOption('#compare', String(Number(year) - 3)));
  assert.match(await legend(page), /zmiana/);
  await page.screenshot({ path: path.join(OUT, 'compare.png') });

  const url = new URL(page.url());
  assert.equal(url.searchParams.get('category'), 'any_pup');
  assert.equal(url.searchParams.get('year'), String(Number(year) - 1));
  assert.equal(url.searchParams.get('compare'), String(Number(year) - 3));
  assert.equal(url.searchParams.get('measure'), 'rate_per_1000');
  // The shared URL restores the view.
  const again = await open(page.url());
  assert.equal(await again.page.locator('#category').inputValue(), 'any_pup');
  assert.equal(await again.page.locator('#year-value').innerText(), String(Number(year) - 1));
  assert.equal(await again.page.locator('#compare').inputValue(), String(Number(year) - 3));
  assert.equal(await legend(again.page), await legend(page));
  await again.context.close();
  await context.close();
});

test('persons or families: the switch draws the households the API publishes, only where they are published', async () => {
  const { page, context, errors } = await open(BASE + '/?category=any_ops');
  const year = await page.locator('#year-value').innerText();
  assert.equal(await page.locator('#counted').isDisabled(), false, 'families are published for all OPS clients');
  const persons = Object.fromEntries((await page.evaluate(() => window.kmapa.shown())).map((s) => [s.unit, s.v]));
  await afterRender(page, () => page.selectOption('#counted', 'households'));
  assert.match(await legend(page), /liczba rodzin/);
  const api = await getJSON(`${BASE}/collections/problems-districts/items?category=any_ops&year=${year}&counted=households&limit=1000`);
  assert.ok(api.features.length > 10);
  const drawnValues = Object.fromEntries((await page.evaluate(() => window.kmapa.shown())).map((s) => [s.unit, s.v]));
  let fewer = 0;
  for (const f of api.features) {
    assert.equal(f.properties.counted, 'households');
    assert.equal(drawnValues[f.properties.unit], f.properties.value, f.properties.unit);
    if (f.properties.value !== null && persons[f.properties.unit] !== null) {
      assert.ok(f.properties.value <= persons[f.properties.unit], `${f.properties.unit}: more families than persons`);
      if (f.properties.value < persons[f.properties.unit]) fewer += 1;
    }
  }
  assert.ok(fewer > 10, 'families are fewer than persons in most districts');
  assert.equal(new URL(page.url()).searchParams.get('counted'), 'households');
  // The static export draws the same families.
  const st = await open(`${STATIC}/?category=any_ops&year=${year}&counted=households`);
  assert.equal(await st.page.locator('#counted').inputValue(), 'households');
  const staticValues = Object.fromEntries((await st.page.evaluate(() => window.kmapa.shown())).map((s) => [s.unit, s.v]));
  for (const f of api.features) assert.equal(staticValues[f.properties.unit], f.properties.value, `static ${f.properties.unit}`);
  await st.context.close();
  // A problem published for persons only: the switch is off and persons are drawn.
  await afterRender(page, () => page.selectOption('#category', 'any_pup'));
  assert.equal(await page.locator('#counted').isDisabled(), true);
  assert.match(await legend(page), /liczba osób/);
  assert.equal(new URL(page.url()).searchParams.get('counted'), null);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a hidden cell is hatched and its tooltip says why, in plain words', async () => {
  // Find a category and year with a district under the threshold, from the API.
  const vocab = await getJSON(`${BASE}/api/v1/vocabulary`);
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  const year = snap.years[snap.years.length - 1];
  let found = null;
  for (const c of vocab) {
    const fc = await getJSON(`${BASE}/collections/problems-districts/items?category=${c.code}&year=${year}&limit=1000`);
    if (fc.features.some((f) => f.properties.status === 'hidden')) { found = c.code; break; }
  }
  assert.ok(found, 'the demo city has a hidden district');
  const { page, context } = await open(`${BASE}/?category=${found}&year=${year}`);
  const pt = await findPoint(page, (s) => s && s.status === 'hidden');
  assert.ok(pt, 'a hidden district is drawn');
  const hatched = await page.evaluate(({ x, y }) => {
    const r = window.kmapa.map.getCanvas().getBoundingClientRect();
    return window.kmapa.map.queryRenderedFeatures([x - r.left, y - r.top], { layers: ['units-hidden'] }).length;
  }, pt);
  assert.equal(hatched, 1, 'the hidden district is drawn with the hatch');
  await page.mouse.move(pt.x, pt.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const tip = await page.locator('#tooltip').innerText();
  assert.match(tip, /ukryte dla ochrony prywatności/);
  // One wording for every hidden cell: saying "fewer than k" for some would tell a
  // reader which hidden cells are small (docs/privacy.md).
  assert.doesNotMatch(tip, /mniej niż|fewer than/);
  await page.screenshot({ path: path.join(OUT, 'hidden-tooltip.png') });
  // English too.
  await afterRender(page, () => page.click('#lang'));
  await page.mouse.move(pt.x + 1, pt.y + 1);
  await page.waitForFunction(() => /hidden to protect privacy/.test(document.getElementById('tooltip').innerText));
  assert.equal(await page.locator('h1').innerText(), 'Map of social problems');
  await context.close();
});

test('clicking a district opens its profile with charts, institutions, CSV and a print report', async () => {
  const { page, context } = await open(`${BASE}/?category=any_ops`);
  const pt = await findPoint(page, (s) => s && !s.hid && s.v > 0);
  assert.ok(pt);
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#profile:not([hidden]) .cat svg');
  const profile = await getJSON(`${BASE}/api/v1/districts/${pt.unit}/profile`);
  assert.match(await page.locator('#profile-title').innerText(), new RegExp(profile.district.name));
  assert.equal(await page.locator('#profile .cat svg').count(), profile.categories.length, 'a chart per category');
  const polylines = await page.locator('#profile .cat svg path[stroke="#00507a"]').evaluateAll((ps) => ps.filter((p) => (p.getAttribute('d') || '').includes('L')).length);
  assert.ok(polylines > 5, 'charts draw trend lines');
  // Each chart has axes: 0 and its top value, the first and the last year.
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  const axes = await page.locator('#profile .cat svg').first().locator('text.axis').allTextContents();
  assert.ok(axes.includes('0') && axes.includes(String(snap.years[0])) && axes.includes(String(snap.years[snap.years.length - 1])), axes.join(' | '));
  assert.ok(axes.some((a) => /^[1-9]/.test(a)), `a top value on the scale: ${axes.join(' | ')}`);
  assert.equal(await page.locator('#profile ul.inst > li').count(), profile.institutions.length);
  const href = await page.locator('#profile-csv').getAttribute('href');
  const csv = await (await fetch(new URL(href, BASE + '/'))).text();
  assert.match(csv.split('\n')[1], new RegExp(`^${pt.unit},`));
  assert.equal(new URL(page.url()).searchParams.get('district'), pt.unit);
  await page.screenshot({ path: path.join(OUT, 'profile.png') });
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('#map').isVisible(), false, 'print hides the map');
  assert.equal(await page.locator('#controls').isVisible(), false, 'print hides the controls');
  assert.equal(await page.locator('#profile').isVisible(), true);
  // The report's table (print) is the API's report, symbols and all; the small map
  // shows the district among the others.
  const report = await getJSON(`${BASE}/api/v1/reports/${pt.unit}?year=${snap.years[snap.years.length - 1]}`);
  assert.equal(await page.locator('#profile .report').isVisible(), true, 'the report table prints');
  const cells = await page.locator('#profile .report tbody tr[data-code]').evaluateAll((trs) => trs.map((tr) => [tr.dataset.code, [...tr.children].slice(1).map((td) => td.textContent)]));
  assert.equal(cells.length, report.rows.length);
  const shown = (v, d) => (typeof v === 'number' ? v.toLocaleString('pl-PL', { maximumFractionDigits: d }) : v);
  for (const [code, tds] of cells) {
    const row = report.rows.find((r) => r.code === code);
    assert.deepEqual(tds.slice(0, 3), row.persons.map((v) => shown(v, 0)), code);
    assert.equal(tds[3], '', `${code}: the forecast column is empty`);
    assert.deepEqual(tds.slice(4, 7), row.rate_per_1000.map((v) => shown(v, 2)), code);
  }
  assert.ok(report.rows.some((r) => r.persons.includes('.')), 'a hidden value in the report, shown as "."');
  assert.equal(await page.locator('#profile svg.locator path[data-here]').count(), 1);
  const pdfPath = path.join(OUT, 'profile.pdf');
  await page.pdf({ path: pdfPath, format: 'A4' });
  // Read back with pypdf: pages and text (the district, the forecast column, the
  // footnote, a figure of the table).
  const { execFileSync } = await import('node:child_process');
  const pdf = JSON.parse(execFileSync('python3', ['-c',
    'import json,sys,pypdf; r=pypdf.PdfReader(sys.argv[1]); print(json.dumps({"pages": len(r.pages), "text": "\\n".join(p.extract_text() for p in r.pages)}))', pdfPath]).toString());
  assert.ok(pdf.pages >= 2 && pdf.pages <= 12, `${pdf.pages} pages`);
  const flat = pdf.text.replace(/[\s\u00a0]+/g, ' ');
  assert.ok(flat.includes(profile.district.name), 'the district named');
  assert.match(flat, /prognoza/);
  assert.match(flat, /Znak „\.”/);
  const total = report.rows.find((r) => r.code === 'any_ops');
  assert.ok(flat.includes(shown(total.persons[2], 0).replace(/\u00a0/g, ' ')), `the current year's total ${total.persons[2]} in the PDF`);
  // The spreadsheet of the same report, downloaded from its link and read back with
  // openpyxl: the current year's persons of every row equal the report's, "." where
  // hidden, and the forecast column empty.
  await page.emulateMedia({ media: 'screen' });
  const [xlsxDownload] = await Promise.all([page.waitForEvent('download'), page.click('#profile-xlsx')]);
  const xlsxPath = path.join(OUT, 'report.xlsx');
  await xlsxDownload.saveAs(xlsxPath);
  const sheet = JSON.parse(execFileSync('python3', ['-c',
    'import json,sys,openpyxl; ws=openpyxl.load_workbook(sys.argv[1]).active; print(json.dumps([[c for c in r] for r in ws.iter_rows(values_only=True)], default=str))', xlsxPath]).toString());
  const byLabel = new Map(sheet.filter((r) => typeof r[0] === 'string').map((r) => [r[0], r]));
  for (const row of report.rows) {
    const label = row.parent ? `w tym: ${row.label_pl}` : row.label_pl;
    const line = byLabel.get(label);
    assert.ok(line, `the XLSX has a row ${label}`);
    assert.equal(line[3], row.persons[2], `${label}: current year`);
    assert.ok(line[4] === null || line[4] === '', `${label}: the forecast column is empty`);
  }
  await page.emulateMedia({ media: 'print' });
  // And the city's, from the footer.
  const cityXl = await fetch(new URL(await page.locator('#city-report').getAttribute('href'), BASE + '/'));
  assert.equal(cityXl.status, 200);
  assert.match(cityXl.headers.get('content-disposition'), /city/);
  await page.emulateMedia({ media: 'screen' });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#profile', { state: 'hidden' });
  await context.close();
});

test('institutions: points with popups, filtered by type and by problem served', async () => {
  const { page, context } = await open(`${BASE}/?category=homelessness&inst=1`);
  const all = await page.evaluate(() => window.kmapa.institutionsShown);
  const api = await getJSON(`${BASE}/collections/institutions/items?limit=10000`);
  // Their colours are explained: a legend of the sectors present, in Polish.
  const sectorsShown = await page.locator('#legend .inst-legend .row').allInnerTexts();
  assert.equal(sectorsShown.length, new Set(api.features.map((f) => f.properties.sector)).size, sectorsShown.join(', '));
  assert.ok(sectorsShown.some((x) => /pomoc społeczna|Pomoc społeczna/i.test(x)), sectorsShown.join(', '));
  assert.equal(all, api.features.length);
  await page.check('#inst-serves');
  const serving = await page.evaluate(() => window.kmapa.institutionsShown);
  assert.equal(serving, api.features.filter((f) => f.properties.categories.includes('homelessness')).length);
  assert.ok(serving > 0 && serving < all);
  await page.uncheck('#inst-serves');
  const kind = api.features[0].properties.kind;
  await page.selectOption('#inst-type', kind);
  assert.equal(await page.evaluate(() => window.kmapa.institutionsShown), api.features.filter((f) => f.properties.kind === kind).length);
  await page.waitForFunction(() => window.kmapa.map.queryRenderedFeatures({ layers: ['inst-points'] }).length > 0);
  const pt = await page.evaluate(() => {
    const m = window.kmapa.map;
    const r = m.getCanvas().getBoundingClientRect();
    const f = m.queryRenderedFeatures({ layers: ['inst-points'] })
      .map((f) => m.project(f.geometry.coordinates))
      .find((p) => p.x > 40 && p.y > 40 && p.x < r.width - 60 && p.y < r.height - 60);
    return f && { x: r.left + f.x, y: r.top + f.y };
  });
  assert.ok(pt, 'an institution is on screen');
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('.maplibregl-popup h3');
  const text = await page.locator('.maplibregl-popup').innerText();
  assert.ok(api.features.some((f) => text.includes(f.properties.name)), 'the popup names the institution');
  assert.match(text, /Pomaga w/);
  assert.match(text, /Obszar działania/);
  await page.screenshot({ path: path.join(OUT, 'institution.png') });
  await context.close();
});

test('adaptive hexagons of mixed resolutions, and a district found by keyboard', async () => {
  const { page, context } = await open(`${BASE}/?layer=hex`);
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  // The demo publishes the adaptive layer: one layer at every zoom, each hexagon at
  // the finest resolution at which it is safe.
  assert.ok(snap.layers.includes('h3'), `the demo publishes the adaptive layer: ${snap.layers}`);
  assert.equal(await page.evaluate(() => window.kmapa.layer()), 'h3');
  assert.ok(await drawn(page) > 50, 'hexagons drawn');
  // Hexagons of different sizes are coloured by density, and the legend says so.
  assert.match(await legend(page), /osoby na km²/);
  // District names appear once zoomed in (not at the city view), inside their districts.
  await page.waitForFunction(() => document.querySelectorAll('.district-label').length > 0);
  assert.equal(await page.locator('.district-label:visible').count(), 0, 'no names at the city view');
  await page.evaluate(() => window.kmapa.map.jumpTo({ zoom: 12.5 }));
  await page.waitForFunction(() => document.querySelectorAll('.district-label').length > 0 && !window.kmapa.map.isMoving());
  await page.waitForTimeout(200);
  const names = await page.locator('.district-label:visible').allInnerTexts();
  assert.ok(names.length > 3, `district names shown when zoomed in: ${names.length}`);
  const bvocab = await getJSON(`${BASE}/collections/districts/items?limit=1000`);
  const known = new Set(bvocab.features.map((f) => f.properties.name));
  assert.ok(names.every((n) => known.has(n)), names.join(', '));
  await page.screenshot({ path: path.join(OUT, 'labels.png') });
  await page.evaluate(() => window.kmapa.map.jumpTo({ zoom: window.kmapa.map.getZoom() - 2.5 }));
  // District boundaries are drawn over them, so hexagons do not float without context.
  await page.waitForFunction(() => window.kmapa.districtsLoaded > 0);
  assert.equal(await page.evaluate(() => window.kmapa.map.getLayoutProperty('district-lines', 'visibility')), 'visible');
  const year = snap.years[snap.years.length - 1];
  const fc = await getJSON(`${BASE}/collections/problems-h3/items?category=any_ops&year=${year}&limit=10000`);
  const resolutions = new Set(fc.features.map((f) => f.properties.resolution));
  assert.ok(resolutions.size >= 2, `hexagons of several resolutions: ${[...resolutions]}`);
  await page.screenshot({ path: path.join(OUT, 'hexagons.png') });
  await page.evaluate(() => window.kmapa.map.jumpTo({ zoom: window.kmapa.map.getZoom() + 2 }));
  await page.waitForFunction(() => !window.kmapa.map.isMoving());
  assert.equal(await page.evaluate(() => window.kmapa.layer()), 'h3', 'zooming in keeps the adaptive layer');
  // A problem the policy keeps off hexagons shows districts, and says so.
  const vocab = await getJSON(`${BASE}/api/v1/vocabulary`);
  const off = vocab.find((c) => !snap.hexagon_measures.includes(c.code) && c.years.includes(snap.years[snap.years.length - 1]));
  if (off) {
    await afterRender(page, () => page.selectOption('#category', off.code));
    assert.equal(await page.evaluate(() => window.kmapa.layer()), 'districts');
    assert.match(await legend(page), /nie jest publikowany w heksagonach/);
  }
  // The search suggests a district of this city, and the map credits this city's
  // boundaries: both come from the snapshot, not from the page.
  assert.ok(snap.example_district && snap.attribution, 'the snapshot names an example district and an attribution');
  assert.equal(await page.locator('#search').getAttribute('placeholder'), `np. ${snap.example_district}`);
  assert.ok((await page.locator('footer').innerText()).includes(snap.attribution));
  await page.focus('#search');
  await page.keyboard.type('Biskupin');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#profile:not([hidden])');
  assert.match(await page.locator('#profile-title').innerText(), /Biskupin/);
  assert.equal(await page.locator('#layer').inputValue(), 'districts', 'a district search shows districts');
  // After flying there, the map still answers hover and click.
  await page.waitForFunction(() => !window.kmapa.map.isMoving() && window.kmapa.map.queryRenderedFeatures({ layers: ['units-fill'] }).length > 0);
  await context.close();
});

test('analyst sign-in: a public token is refused, an analyst token switches tier and says so', async () => {
  const { page, context, requests } = await open(`${BASE}/`);
  assert.match(await page.locator('#tier').innerText(), /Warstwa publiczna/);
  await page.click('#signin');
  // The dialog tells a visitor whom to ask, not an administrator's command.
  assert.doesNotMatch(await page.locator('#signin-form').innerText(), /kmapa users|--role/);
  await page.fill('#token', PUBLIC_TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  assert.match(await page.locator('#signin-error').innerText(), /roli analityka|rola analityka|potrzebna rola/);
  await page.fill('#token', TOKEN);
  await afterRender(page, () => page.click('#signin-form button[type=submit]'));
  assert.match(await page.locator('#tier').innerText(), /Warstwa analityczna/);
  assert.ok(requests.some((u) => u.includes('/analyst/layers/districts/items')), 'the analyst layer was fetched');
  assert.ok(await drawn(page) >= 40);
  await page.screenshot({ path: path.join(OUT, 'analyst.png') });
  await afterRender(page, () => page.click('#signin'));
  assert.match(await page.locator('#tier').innerText(), /Warstwa publiczna/);
  await context.close();
});

// axe-core (the accessibility engine) checks WCAG 2.1 A and AA rules, contrast
// included, on the page as a user sees it: map, legend, open profile, sign-in dialog.
async function axeViolations(page) {
  await page.addScriptTag({ path: 'node_modules/axe-core/axe.min.js' });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

test('accessibility: no WCAG 2.1 AA violation found by axe-core, in Polish and English', async () => {
  const { page, context } = await open(`${BASE}/?category=any_ops&district=FAB-01&inst=1`);
  await page.waitForSelector('#profile:not([hidden]) .cat svg');
  assert.deepEqual(await axeViolations(page), []);
  await afterRender(page, () => page.click('#lang'));
  assert.deepEqual(await axeViolations(page), []);
  await page.click('#signin');
  assert.deepEqual(await axeViolations(page), []);
  await context.close();
  // The needs-against-help view: its key, list and method.
  const n = await open(`${BASE}/?category=poverty&view=needs`);
  assert.equal(await n.page.locator('#legend .bivar .cell').count(), 9);
  assert.deepEqual(await axeViolations(n.page), []);
  await n.context.close();
  // The revitalisation panel: its choices, the check and the table.
  const r = await open(`${BASE}/?view=revit&ri=poverty,unemployment&rn=2`);
  await r.page.waitForFunction(() => window.kmapa.revit() && window.kmapa.revit().rows.length > 0);
  await r.page.click('#revit-all');
  await r.page.waitForFunction(() => window.kmapa.revit().check.districts > 0);
  assert.deepEqual(await axeViolations(r.page), []);
  await r.context.close();
});

test('phone width: everything fits, the map is drawn', async () => {
  const { page, context } = await open(`${BASE}/`, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  assert.ok(await drawn(page) >= 40, 'the whole city is drawn, and hover and tap find it');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px)`);
  const mapBox = await page.locator('#map').boundingBox();
  assert.ok(mapBox.height > 400, `the map keeps room on a phone (${mapBox.height}px)`);
  assert.equal(await page.locator('#search').isVisible(), false, 'secondary settings fold away');
  // The whole city is in view.
  const outside = await page.evaluate(async () => {
    const b = window.kmapa.map.getBounds();
    const fc = await (await fetch('collections/districts/items?limit=1000')).json();
    const out = [];
    const walk = (c, name) => { if (typeof c[0] === 'number') { if (!b.contains(c)) out.push(name); } else c.forEach((x) => walk(x, name)); };
    for (const f of fc.features) walk(f.geometry.coordinates, f.properties.name);
    return [...new Set(out)];
  });
  assert.deepEqual(outside, [], 'every district is wholly on screen');
  assert.equal(await page.locator('#more').innerText(), 'Więcej ustawień');
  await page.click('#more');
  assert.equal(await page.locator('#search').isVisible(), true, 'and unfold');

  await page.click('#more');
  await page.screenshot({ path: path.join(OUT, 'phone.png') });
  // An institution's popup fits the phone's screen, close button included, and a
  // sub-row it helps with is named after its category ("… – w tym …").
  const vocab = await getJSON(`${BASE}/api/v1/vocabulary`);
  const subrows = new Set(vocab.filter((c) => c.parent).map((c) => c.code));
  const api = await getJSON(`${BASE}/collections/institutions/items?limit=10000`);
  const target = api.features.find((f) => (f.properties.categories || []).some((c) => subrows.has(c)));
  assert.ok(target, 'an institution helps with a sub-row');
  await page.click('#more');
  await page.check('#inst');
  await page.click('#more');
  await page.evaluate((c) => window.kmapa.map.jumpTo({ center: c, zoom: 15 }), target.geometry.coordinates);
  await page.waitForFunction(() => !window.kmapa.map.isMoving() && window.kmapa.map.queryRenderedFeatures({ layers: ['inst-points'] }).length > 0);
  // Tap it near the screen's edge: the map centres it before the popup opens.
  await page.evaluate((c) => window.kmapa.map.jumpTo({ center: c }), [target.geometry.coordinates[0] - 0.002, target.geometry.coordinates[1] - 0.003]);
  const tap = await page.evaluate((c) => {
    const m = window.kmapa.map;
    const r = m.getCanvas().getBoundingClientRect();
    const p = m.project(c);
    return { x: r.left + p.x, y: r.top + p.y };
  }, target.geometry.coordinates);
  const under = await page.evaluate((t) => {
    const r = window.kmapa.map.getCanvas().getBoundingClientRect();
    return window.kmapa.map.queryRenderedFeatures([t.x - r.left, t.y - r.top], { layers: ['inst-points'] }).length;
  }, tap);
  assert.ok(under > 0, `an institution point under the tap at ${JSON.stringify(tap)}`);
  const topmost = await page.evaluate((t) => { const e = document.elementFromPoint(t.x, t.y); return e && (e.id || e.className); }, tap);
  assert.match(String(topmost), /maplibregl-canvas/, `the map is what is tapped at ${JSON.stringify(tap)}, not ${topmost}; zoom ${await page.evaluate(() => window.kmapa.map.getZoom())}, canvas ${JSON.stringify(await page.evaluate(() => window.kmapa.map.getCanvas().getBoundingClientRect()))}`);
  await page.touchscreen.tap(tap.x, tap.y);
  await page.waitForSelector('.maplibregl-popup h3');
  const popup = await page.locator('.maplibregl-popup-content').boundingBox();
  const close = await page.locator('.maplibregl-popup-close-button').boundingBox();
  for (const [what, b] of [['popup', popup], ['close button', close]]) {
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= 390 && b.y + b.height <= 844, `${what} on screen: ${JSON.stringify(b)}`);
  }
  // Nothing lies over it (the legend did): a tap on its close button, or on its top
  // left corner, reaches the popup.
  const onTop = await page.evaluate((b) => document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2)?.className, close);
  assert.match(String(onTop), /maplibregl-popup-close-button/, `over the close button: ${onTop}`);
  const corner = await page.evaluate((b) => !!document.elementFromPoint(b.x + 12, b.y + 12)?.closest('.maplibregl-popup'), popup);
  assert.ok(corner, 'the popup\'s corner is not covered');
  const serves = (await page.locator('.maplibregl-popup-content').innerText()).split('\n').find((l) => l.startsWith('Pomaga w'));
  assert.ok(serves && !/(: |; )w tym/.test(serves) && / – w tym /.test(serves), serves);
  await page.screenshot({ path: path.join(OUT, 'phone-institution.png') });
  await context.close();  // The diagnosis views fit a phone too: no sideways scrolling, their key and panel on
  // screen.
  for (const view of ['needs', 'revit']) {
    const v = await open(`${BASE}/?view=${view}&category=poverty&ri=poverty,unemployment`, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const sideways = await v.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(sideways <= 0, `${view}: no sideways scrolling (${sideways}px)`);
    const box = await v.page.locator(view === 'needs' ? '#legend' : '#revit').boundingBox();
    if (view === 'revit') {
      // The key moves into the panel: the map above it stays visible.
      assert.equal(await v.page.locator('#legend').isVisible(), false);
      assert.equal(await v.page.locator('#revit .revit-key').isVisible(), true);
      // The city is drawn above the panel: districts answer at points of the map's
      // visible part.
      const visible = await v.page.evaluate(() => {
        const m = window.kmapa.map;
        const top = m.getContainer().getBoundingClientRect().top;
        const panel = document.getElementById('revit').getBoundingClientRect().top;
        let hits = 0;
        for (let y = 10; y < panel - top - 10; y += 12) for (let x = 20; x < 370; x += 12) if (m.queryRenderedFeatures([x, y], { layers: ['units-fill'] }).length) hits++;
        return hits;
      });
      assert.ok(visible > 50, `the city is visible above the panel (${visible} points)`);
    }
    assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844 + 1, `${view}: ${JSON.stringify(box)}`);
    await v.page.screenshot({ path: path.join(OUT, `phone-${view}.png`) });
    await v.context.close();
  }
});

// The colour the browser drew at a page point: a 1 × 1 screenshot, decoded here (a
// single-pixel PNG row is the same under every filter type, its left and upper
// neighbours being zero).
async function pixel(page, x, y) {
  const png = await page.screenshot({ clip: { x, y, width: 1, height: 1 } });
  const zlib = await import('node:zlib');
  const idat = [];
  let channels = 4;
  for (let o = 8; o < png.length;) {
    const len = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    const data = png.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') channels = { 2: 3, 6: 4 }[data[9]];
    if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  return [raw[1], raw[2], raw[3]].slice(0, channels);
}
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

test('needs against help: districts classed and coloured as the API says, hidden ones "not enough data", the high-need thin-help list', async () => {
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  const year = snap.years[snap.years.length - 1];
  const { BIVARIATE } = await import('../../web/classes.js');
  // A problem with hidden districts and at least one flagged district.
  let category = null, doc = null;
  for (const c of ['homelessness', 'poverty', 'alcoholism', 'unemployment', 'disability']) {
    const d = await getJSON(`${BASE}/api/v1/needs?category=${c}&year=${year}`);
    if (d.high_need_thin_help.length && d.not_enough_data.length) { category = c; doc = d; break; }
  }
  assert.ok(doc, 'a problem with hidden and flagged districts');
  const { page, context, errors } = await open(`${BASE}/?category=${category}&year=${year}`);
  await afterRender(page, () => page.selectOption('#view', 'needs'));
  assert.match(page.url(), /view=needs/);
  const byCode = new Map(doc.districts.map((d) => [d.code, d]));
  const drawnNeeds = await page.evaluate(() => window.kmapa.needs());
  assert.equal(drawnNeeds.length, doc.districts.length);
  for (const n of drawnNeeds) {
    const d = byCode.get(n.unit);
    assert.equal(n.hid, d.class === null, n.unit);
    if (!n.hid) assert.equal(n.cls, d.class, n.unit);
  }
  // What the browser drew: a classed district in its class colour (fill opacity 0.88
  // over the background #eef2f3), a hidden one hatched.
  const pt = await findPoint(page, (s) => s && s.status !== 'hidden');
  assert.ok(pt, 'a district with data is drawn');
  const cls = byCode.get(pt.unit).class;
  const want = rgb(BIVARIATE[cls]).map((c, i) => 0.88 * c + 0.12 * rgb('#eef2f3')[i]);
  const got = await pixel(page, pt.x, pt.y);
  assert.ok(got.every((c, i) => Math.abs(c - want[i]) <= 8), `${pt.unit} ${cls}: drew ${got}, want ${want.map(Math.round)}`);
  const hiddenPt = await findPoint(page, (s) => s && s.status === 'hidden');
  assert.ok(hiddenPt, 'a hidden district is drawn');
  const hatched = await page.evaluate(({ x, y }) => {
    const r = window.kmapa.map.getCanvas().getBoundingClientRect();
    return window.kmapa.map.queryRenderedFeatures([x - r.left, y - r.top], { layers: ['units-hidden'] }).length;
  }, hiddenPt);
  assert.equal(hatched, 1, 'not enough data: hatched');
  await page.mouse.move(hiddenPt.x, hiddenPt.y);
  await page.waitForFunction(() => /za mało danych/.test(document.getElementById('tooltip').innerText));
  assert.doesNotMatch(await page.locator('#tooltip').innerText(), /na 1000/, 'no rate for a hidden district');
  await page.mouse.move(pt.x, pt.y);
  const d = byCode.get(pt.unit);
  await page.waitForFunction((name) => document.getElementById('tooltip').innerText.includes(name), d.nearest.name);
  // The legend: the 3 × 3 key, its axes, and the list in the API's order.
  assert.equal(await page.locator('#legend .bivar .cell').count(), 9);
  const text = await legend(page);
  assert.match(text, /Potrzeby a pomoc/);
  assert.match(text, /za mało danych/);
  const listed = await page.locator('#legend ol.flagged button').evaluateAll((bs) => bs.map((b) => b.dataset.code));
  assert.deepEqual(listed, doc.high_need_thin_help);
  // Controls that do not apply are off; the chosen problem stays.
  assert.equal(await page.locator('#compare').isDisabled(), true);
  assert.equal(await page.locator('#layer').isDisabled(), true);
  await page.screenshot({ path: path.join(OUT, 'needs-against-help.png') });
  // A listed district opens its profile.
  await page.locator('#legend ol.flagged button').first().click();
  await page.waitForFunction((c) => window.kmapa.profileOpen === c, doc.high_need_thin_help[0]);
  await page.click('#profile-close');
  // English, and back to the problem map.
  await afterRender(page, () => page.click('#lang'));
  assert.match(await legend(page), /Needs against help/);
  await afterRender(page, () => page.selectOption('#view', 'map'));
  assert.doesNotMatch(page.url(), /view=needs/);
  assert.equal(await page.locator('#legend .bivar').count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
  // The static export answers the same.
  const s = await open(`${STATIC}/?category=${category}&year=${year}&view=needs`);
  const staticNeeds = await s.page.evaluate(() => window.kmapa.needs());
  assert.deepEqual(staticNeeds, drawnNeeds);
  await s.context.close();
});

test('revitalisation: crisis districts from published rates and a CSV of own indicators, an area checked against 20 % / 30 %, a CSV out', async () => {
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  const year = snap.years[snap.years.length - 1];
  const inds = ['poverty', 'unemployment'];
  const boundaries = await getJSON(`${BASE}/collections/districts/items?limit=1000`);
  const dist = boundaries.features.map((f) => f.properties);
  // The recount: published rates against the city's, from the API.
  const rates = {};
  const city = {};
  for (const c of inds) {
    const fc = await getJSON(`${BASE}/collections/problems-districts/items?category=${c}&year=${year}&limit=1000`);
    rates[c] = Object.fromEntries(fc.features.map((f) => [f.properties.unit, f.properties.status === 'hidden' ? null : f.properties.rate_per_1000]));
    const series = await getJSON(`${BASE}/api/v1/series?category=${c}`);
    city[c] = series.series.find((x) => x.year === year).rate_per_1000;
  }
  const recount = (own) => Object.fromEntries(dist.map((d) => {
    const worse = inds.map((c) => (rates[c][d.code] === null ? null : rates[c][d.code] > city[c]));
    const yes = worse.filter((w) => w === true).length, unknown = worse.filter((w) => w === null).length;
    let otherYes = true, otherMaybe = true;
    if (own) { const w = own.values[d.code] < own.city; otherYes = w; otherMaybe = w; }
    const status = yes >= 2 && otherYes ? 'degraded' : yes + unknown >= 2 && otherMaybe ? 'undecided' : 'not';
    return [d.code, status];
  }));
  const { page, context, errors } = await open(`${BASE}/?view=revit&year=${year}&ri=${inds.join(',')}&rn=2`);
  await page.waitForFunction(() => window.kmapa.revit() && window.kmapa.revit().rows.length > 0);
  const statuses = async () => Object.fromEntries((await page.evaluate(() => window.kmapa.revit().rows)).map((r) => [r.code, r.status]));
  const want = recount(null);
  assert.deepEqual(await statuses(), want);
  assert.ok(Object.values(want).includes('degraded'), 'some district is in crisis on both');
  const cities = await page.evaluate(() => window.kmapa.revit().indicators.map((i) => i.city));
  assert.deepEqual(cities, inds.map((c) => city[c]));
  assert.match(await page.locator('#revit').innerText(), /art\. 9 i 10/);
  // Picking one more indicator in the panel adds its column and its city value.
  const until = (f, arg) => page.waitForFunction(f, arg, { timeout: 30000 });
  await page.locator('#revit .picks input[value="homelessness"]').check();
  await until(() => window.kmapa.revit().indicators.length === 3);
  assert.deepEqual((await page.evaluate(() => window.kmapa.revit().indicators)).map((i) => i.id), [...inds, 'homelessness']);
  assert.match(new URL(page.url()).searchParams.get('ri'), /homelessness/);
  await page.locator('#revit .picks input[value="homelessness"]').uncheck();
  await until(() => window.kmapa.revit().indicators.length === 2);
  assert.deepEqual(await statuses(), want);
  // A bad file: every problem named by line, column and value; nothing loaded.
  await page.setInputFiles('#revit-file', { name: 'zle.csv', mimeType: 'text/csv', buffer: Buffer.from('kod;firmy\nXYZ-01;5\n' + dist[0].code + ';dużo\n') });
  await page.waitForSelector('#revit .errors li');
  const errs = await page.locator('#revit .errors').innerText();
  assert.match(errs, /wiersz 2, kolumna „kod”, wartość „XYZ-01”/);
  assert.match(errs, /wiersz 3, kolumna „firmy”, wartość „dużo”/);
  // Own indicator: firms per 1,000 residents (lower = worse, economic), as Excel saves it.
  const own = { city: 50, values: {} };
  dist.forEach((d, i) => { own.values[d.code] = 20 + (i * 7) % 60 + 0.5; });
  const csv = 'kod;Firmy na 1000 mieszk.\n' + dist.map((d) => `${d.code};${String(own.values[d.code]).replace('.', ',')}`).join('\n') + '\nmiasto;50\n';
  await page.setInputFiles('#revit-file', { name: 'firmy.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.waitForSelector('#revit .own-kind');
  assert.equal(await page.locator('#revit .errors').count(), 0);
  await page.selectOption('#revit .own-kind', 'economic');
  await until(() => window.kmapa.revit().indicators.some((i) => i.kind === 'economic'));
  await page.selectOption('#revit .own-dir', 'lower');
  await until(() => window.kmapa.revit().indicators.some((i) => i.kind === 'economic' && i.higherIsWorse === false));
  const withOwn = recount(own);
  assert.deepEqual(await statuses(), withOwn);
  const degraded = Object.keys(withOwn).filter((c) => withOwn[c] === 'degraded');
  assert.ok(degraded.length > 0);
  // The whole degraded area as the revitalisation area, against the limits by hand.
  await page.click('#revit-all');
  await until((n) => window.kmapa.revit().check.districts === n, degraded.length);
  const check = await page.evaluate(() => window.kmapa.revit().check);
  const area = dist.filter((d) => degraded.includes(d.code)).reduce((a, d) => a + d.area_km2, 0);
  const total = dist.reduce((a, d) => a + d.area_km2, 0);
  const pop = dist.filter((d) => degraded.includes(d.code)).reduce((a, d) => a + d.population[year], 0);
  const popTotal = dist.reduce((a, d) => a + d.population[year], 0);
  assert.ok(Math.abs(check.areaShare - area / total) < 1e-9 && Math.abs(check.populationShare - pop / popTotal) < 1e-9);
  assert.equal(check.areaOk, area / total <= 0.2);
  const areaLine = await page.locator('#revit .area-line').innerText();
  assert.match(areaLine, area / total <= 0.2 ? /w limicie/ : /przekracza o/);
  assert.match(await page.locator('#revit .pop-line').innerText(), pop / popTotal <= 0.3 ? /w limicie/ : /przekracza o/);
  // Clicking a district outside the degraded area adds it, and the check says so.
  const pt = await findPoint(page, (s) => s && s.status === 'not');
  assert.ok(pt, 'a district outside the degraded area is drawn');
  await page.mouse.click(pt.x, pt.y);
  await until((u) => window.kmapa.revit().check.outside.includes(u), pt.unit);
  assert.match(await page.locator('#revit .check').innerText(), /Poza obszarem zdegradowanym/);
  await page.screenshot({ path: path.join(OUT, 'revitalisation.png') });
  // The CSV: a row per district and one for the city, statuses as shown.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#revit-csv')]);
  const text = fs.readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(text.length, dist.length + 2);
  const header = text[0].split(',');
  const at = (name) => header.indexOf(name);
  for (const line of text.slice(2)) {
    const cells = line.split(',');
    assert.equal(cells[at('status')], withOwn[cells[0]], cells[0]);
    assert.equal(cells[at('revitalisation_area')], degraded.includes(cells[0]) || cells[0] === pt.unit ? 'yes' : 'no');
  }
  assert.deepEqual(errors, []);
  await context.close();
  // The static export decides the same from its own files.
  const st = await open(`${STATIC}/?view=revit&year=${year}&ri=${inds.join(',')}&rn=2`);
  await st.page.waitForFunction(() => window.kmapa.revit() && window.kmapa.revit().rows.length > 0);
  assert.deepEqual(Object.fromEntries((await st.page.evaluate(() => window.kmapa.revit().rows)).map((r) => [r.code, r.status])), want);
  await st.context.close();
});

test('admin panel: an analyst token refused, an administrator adds an analyst and revokes them, uploads a batch, previews, publishes and rolls back, the log shows each', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => (d.type() === 'prompt' ? d.accept('sprawdzenie panelu') : d.accept()));
  await page.goto(`${BASE}/admin`);
  await page.waitForFunction(() => window.kmapaAdmin && window.kmapaAdmin.ready);
  assert.equal(await page.locator('h1').innerText(), 'Panel administratora');
  await page.fill('#token', TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => /administratora/.test(document.getElementById('signin-error').textContent));
  assert.equal(await page.locator('#panel').isVisible(), false);
  await page.fill('#token', ADMIN_TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#panel:not([hidden]) #users tbody tr');
  assert.ok(await page.locator('#users tr[data-name="browser-analyst"]').count() === 1);
  assert.deepEqual(await axeViolations(page), []);
  // Add an analyst: the token is shown once and opens the analyst tier.
  const loads = await page.evaluate(() => window.kmapaAdmin.loads);
  await page.fill('#new-name', 'panel-analyst');
  await page.selectOption('#new-role', 'analyst');
  await page.click('#add-form button[type=submit]');
  await page.waitForFunction((n) => window.kmapaAdmin.loads > n, loads);
  const newToken = await page.locator('#new-token code').innerText();
  assert.match(newToken, /^kmapa_[0-9a-f]{64}$/);
  const layers = (tok) => fetch(`${BASE}/analyst/layers`, { headers: { Authorization: `Bearer ${tok}` } }).then((r) => r.status);
  assert.equal(await layers(newToken), 200);
  assert.equal(await page.locator('#users tr[data-name="panel-analyst"]').count(), 1);
  await page.screenshot({ path: path.join(OUT, 'admin.png') });
  // Revoke them: the token stops working.
  const before = await page.evaluate(() => window.kmapaAdmin.loads);
  await page.click('#users tr[data-name="panel-analyst"] button');
  await page.waitForFunction((n) => window.kmapaAdmin.loads > n, before);
  assert.equal(await page.locator('#users tr[data-name="panel-analyst"]').count(), 0);
  assert.equal(await layers(newToken), 401);
  // The log: both actions by the administrator, newest first.
  const log = await page.locator('#log tbody tr').evaluateAll((trs) => trs.slice(0, 2).map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(log.map((r) => r.slice(1)), [['browser-admin', 'odebranie dostępu', 'panel-analyst', 'wykonano'], ['browser-admin', 'dodanie użytkownika', 'panel-analyst (analyst)', 'wykonano']]);
  const items = async () => (await getJSON(`${BASE}/collections/problems-districts/items?category=poverty&year=2024&limit=1000`))
    .features.map((f) => [f.properties.unit, f.properties.value, f.properties.status]).sort();
  // The institutions directory: a new institution placed on the map, refused once by
  // the data contract (the website), saved, renamed; published, it is on the public map.
  let k;
  const NAME = 'Ośrodek Interwencji Kryzysowej (test panelu)';
  const saves = () => page.evaluate(() => window.kmapaAdmin.saves || 0);
  await page.click('#inst-new');
  await page.waitForFunction(() => window.kmapaAdmin.pickerReady);
  await page.fill('#i-name', 'Punkt Interwencji Kryzysowej (test panelu)');
  await page.fill('#i-type', 'crisis_centre');
  await page.selectOption('#i-sector', 'social_assistance');
  // An address the city's address points do not know is refused; one they know is found.
  await page.fill('#i-address', 'ul. Nieistniejąca 1');
  k = await page.evaluate(() => window.kmapaAdmin.geocoded || 0);
  await page.click('#i-geocode');
  await page.waitForFunction((j) => (window.kmapaAdmin.geocoded || 0) > j, k);
  assert.match(await page.locator('#inst-error').innerText(), /Nieistniejąca/);
  const point = fs.readFileSync(path.resolve('data/wroclaw/addresses.csv'), 'utf8').split('\n')[1].split(',');
  await page.fill('#i-address', `${point[0]} ${point[1]}, ${point[2]}`);
  k = await page.evaluate(() => window.kmapaAdmin.geocoded || 0);
  await page.click('#i-geocode');
  await page.waitForFunction((j) => (window.kmapaAdmin.geocoded || 0) > j, k);
  assert.equal(await page.locator('#inst-error').innerText(), '');
  assert.deepEqual([await page.inputValue('#i-lat'), await page.inputValue('#i-lon')], [point[3], point[4]]);
  await page.selectOption('#i-categories', ['crisis_situation', 'domestic_violence']);
  await page.selectOption('#i-area', ['*']);
  await page.fill('#i-website', 'www.example.org');
  // Then placed by a click on the map, a little beside the address found (the marker).
  const canvas = page.locator('#inst-map canvas');
  const size = await canvas.boundingBox();
  await canvas.click({ position: { x: size.width / 2 + 60, y: size.height / 2 + 40 } });
  await page.waitForFunction(() => window.kmapaAdmin.picked > 0);
  assert.match(await page.inputValue('#i-lat'), /^51\.\d{6}$/);
  assert.match(await page.inputValue('#i-lon'), /^1[67]\.\d{6}$/);
  k = await saves();
  await page.click('#inst-form button[type=submit]');
  await page.waitForFunction((j) => window.kmapaAdmin.saves > j, k);
  assert.match(await page.locator('#inst-error').innerText(), /website.*www\.example\.org|www\.example\.org.*website/s);
  assert.equal(await page.locator('#inst-form').isVisible(), true);
  await page.screenshot({ path: path.join(OUT, 'admin-institution.png'), fullPage: true });
  await page.fill('#i-website', 'https://example.org/oik');
  k = await saves();
  await page.click('#inst-form button[type=submit]');
  await page.waitForFunction((j) => window.kmapaAdmin.saves > j, k);
  assert.equal(await page.locator('#inst-error').innerText(), '');
  const instRow = page.locator('#institutions tbody tr', { hasText: 'Punkt Interwencji Kryzysowej (test panelu)' });
  assert.equal(await instRow.count(), 1);
  const instId = await instRow.getAttribute('data-id');
  await instRow.locator('button').first().click();
  assert.equal(await page.inputValue('#i-website'), 'https://example.org/oik');
  await page.fill('#i-name', NAME);
  k = await saves();
  await page.click('#inst-form button[type=submit]');
  await page.waitForFunction((j) => window.kmapaAdmin.saves > j, k);
  assert.match(await page.locator(`#institutions tr[data-id="${instId}"]`).innerText(), /Ośrodek Interwencji Kryzysowej/);
  assert.deepEqual(await axeViolations(page), []);
  const publicNames = async () => (await getJSON(`${BASE}/collections/institutions/items?limit=10000`)).features.map((f) => f.properties.name);
  assert.ok(!(await publicNames()).includes(NAME), 'not public before publishing');
  k = await page.evaluate(() => window.kmapaAdmin.previews || 0);
  await page.click('#preview');
  await page.waitForFunction((j) => (window.kmapaAdmin.previews || 0) > j, k, { timeout: 600000, polling: 500 });
  assert.match(await page.locator('#preview-result .inst-changed').innerText(), /Spis instytucji zmieniony/);
  assert.equal(await page.locator('#preview-changes tbody tr').count(), 0, 'the counts are those of version 1');
  const counts = await items();
  await page.fill('#publish-comment', 'nowa instytucja');
  await page.click('#publish-form button[type=submit]');
  await page.waitForSelector('#snapshots tr[data-number="2"][data-served="true"]', { timeout: 60000 });
  assert.ok((await publicNames()).includes(NAME));
  assert.deepEqual(await items(), counts, 'the same counts as version 1');
  // On the public map: drawn among the points (features carry their index in the API's list).
  const at = (await publicNames()).indexOf(NAME);
  const pub = await open(`${BASE}/?inst=1`);
  await pub.page.waitForFunction((n) => window.kmapa.map.queryRenderedFeatures({ layers: ['inst-points'] }).some((f) => f.properties.n === n), at, { timeout: 30000 });
  await pub.context.close();
  const instLog = await page.locator('#log tbody tr').evaluateAll((trs) => trs.slice(0, 6).map((tr) => tr.children[2].textContent));
  assert.deepEqual(instLog, ['publikacja', 'podgląd', 'zmiana instytucji', 'dodanie instytucji', 'dodanie instytucji', 'odebranie dostępu']);
  // Upload a small file (one row refused): its summary and the refused row's line,
  // column and reason; no identifier shown. Then withdraw and restore the batch.
  const csvFile = 'source,person_id,household_id,year,category,lat,lon,address,district,sex,birth_year,age_band,synthetic\n'
    + 'OPS,panel0001aaaa0001,HP1,2024,poverty,51.100793,17.001877,,,K,1973,,true\n'
    + 'OPS,panel0001aaaa0002,HP2,2024,no_such_problem,51.10,17.00,,,M,1980,,true\n';
  await page.setInputFiles('#upload-file', { name: 'panel-test.csv', mimeType: 'text/csv', buffer: Buffer.from(csvFile) });
  const beforeUpload = await page.evaluate(() => window.kmapaAdmin.loads);
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction((n) => window.kmapaAdmin.loads > n, beforeUpload);
  const result = await page.locator('#upload-result').innerText();
  assert.match(result, /panel-test\.csv: wierszy 2, przyjętych 1, odrzuconych 1/);
  assert.match(result, /wiersz 3, kolumna „category”, wartość „no_such_problem”/);
  assert.doesNotMatch(result, /panel0001/, 'no identifier shown');
  const row = page.locator('#batches tbody tr').first();
  assert.match(await row.innerText(), /panel-test\.csv/);
  const id = await row.getAttribute('data-id');
  for (const [button, status] of [['Wycofaj', 'withdrawn'], ['Przywróć', 'active']]) {
    const n = await page.evaluate(() => window.kmapaAdmin.loads);
    await page.click(`#batches tr[data-id="${id}"] button`);
    await page.waitForFunction((k) => window.kmapaAdmin.loads > k, n);
    assert.equal(await page.locator(`#batches tr[data-id="${id}"]`).getAttribute('data-status'), status, button);
  }
  const actions = await page.locator('#log tbody tr').evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.children[2].textContent));
  assert.deepEqual(actions, ['przywrócenie partii', 'wycofanie partii', 'wczytanie partii']);
  // An upload of another type is refused before it is read.
  await page.setInputFiles('#upload-file', { name: 'dane.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('PK\x03\x04') });
  await page.click('#upload-form button[type=submit]');
  await page.waitForFunction(() => /csv or \.parquet/.test(document.getElementById('batches-error').textContent));
  // The CSV of the log.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#log-csv')]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^at,actor,action,target,result\n/);
  assert.match(csv, /browser-admin,revoke user,panel-analyst,done/);
  assert.match(csv, /browser-admin,upload batch,panel-test\.csv,"done: 2 rows read, 1 accepted, 1 rejected"/);
  // Preview the next version (the uploaded row is a late 2024 record), publish it with
  // a comment and see the public API serve it; then restore version 1.
  const first = await items();
  assert.equal((await getJSON(`${BASE}/health`)).snapshot, 2);
  const previews = await page.evaluate(() => window.kmapaAdmin.previews || 0);
  await page.click('#preview');
  await page.waitForFunction((n) => (window.kmapaAdmin.previews || 0) > n, previews, { timeout: 600000, polling: 500 });
  assert.equal(await page.locator('#publish-error').innerText(), '');
  assert.match(await page.locator('#preview-result .verdict').innerText(), /^Audyt zaliczony: \d+ ukrytych komórek\. Porównanie z wersją 2:/);
  const loss = await page.locator('#preview-loss tbody tr').evaluateAll((trs) => trs.map((tr) => tr.children[0].textContent));
  assert.ok(loss.includes('osiedla') && loss.includes('miasto'), loss);
  const changed = await page.locator('#preview-changes tbody tr').evaluateAll((trs) => trs.map((tr) => `${tr.children[0].textContent} ${tr.children[1].textContent}`));
  assert.ok(changed.includes('poverty 2024') && changed.includes('any_ops 2024'), changed);
  assert.ok(changed.every((c) => c.endsWith(' 2024')), changed);
  assert.equal((await getJSON(`${BASE}/health`)).snapshot, 2, 'a preview publishes nothing');
  // The map of what it would hide at districts, for poverty 2024.
  k = await page.evaluate(() => window.kmapaAdmin.previewMaps || 0);
  await page.selectOption('#pm-measure', 'poverty');
  await page.selectOption('#pm-year', '2024');
  await page.waitForFunction((j) => (window.kmapaAdmin.previewMaps || 0) > j && window.kmapaAdmin.previewMap.category === 'poverty', k);
  const pm = await page.evaluate(() => window.kmapaAdmin.previewMap);
  assert.equal(pm.year, 2024);
  await page.locator('#preview-map-box').screenshot({ path: path.join(OUT, 'admin-preview-map.png') });
  assert.deepEqual(await axeViolations(page), []);
  await page.locator('#publish-title').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(OUT, 'admin-preview.png') });
  await page.fill('#publish-comment', 'późny rekord z panelu');
  await page.click('#publish-form button[type=submit]');
  await page.waitForSelector('#snapshots tr[data-number="3"][data-served="true"]', { timeout: 60000 });
  assert.match(await page.locator('#snapshots tr[data-number="3"]').innerText(), /późny rekord z panelu/);
  assert.equal((await getJSON(`${BASE}/health`)).snapshot, 3);
  const second = await items();
  assert.notDeepEqual(second, first, 'the public districts of poverty 2024 changed');
  // The preview's map showed what is now published: the same districts hidden, and
  // those it marked as newly hidden were shown before.
  assert.deepEqual(second.filter((c) => c[2] === 'hidden').map((c) => c[0]).sort(), pm.hidden);
  for (const u of pm.newlyHidden) assert.notEqual(first.find((c) => c[0] === u)[2], 'hidden', u);
  const map = await open(`${BASE}/?category=poverty&year=2024`);
  await map.page.waitForFunction(() => window.kmapa && window.kmapa.shown().length > 0);
  const drawn = Object.fromEntries((await map.page.evaluate(() => window.kmapa.shown())).map((d) => [d.unit, d.v]));
  for (const [unit, value] of second) if (value !== null) assert.equal(drawn[unit], value, unit);
  await map.context.close();
  await page.click('#snapshots tr[data-number="1"] button');
  await page.waitForSelector('#snapshots tr[data-number="4"][data-served="true"]', { timeout: 60000 });
  assert.match(await page.locator('#snapshots tr[data-number="4"]').innerText(), /kopia wersji 1/);
  assert.deepEqual(await items(), first, 'version 1 is back');
  const published = await page.locator('#log tbody tr').evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.children[2].textContent));
  assert.deepEqual(published, ['przywrócenie wersji 1', 'publikacja', 'podgląd']);
  await page.click('#lang');
  assert.equal(await page.locator('h1').innerText(), 'Admin panel');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the static export draws the same numbers as the live API', async () => {
  const { page, context, requests } = await open(`${STATIC}/?category=any_ops`);
  const year = await page.locator('#year-value').innerText();
  const live = await getJSON(`${BASE}/collections/problems-districts/items?category=any_ops&year=${year}&limit=1000`);
  const drawnValues = Object.fromEntries((await page.evaluate(() => window.kmapa.shown())).map((s) => [s.unit, s.v]));
  assert.equal(Object.keys(drawnValues).length, live.features.length);
  for (const f of live.features) assert.equal(drawnValues[f.properties.unit], f.properties.value);
  assert.ok(requests.every((u) => u.startsWith(STATIC + '/') || u.startsWith('data:') || u.startsWith('blob:')));
  assert.equal(await page.locator('#signin').isVisible(), false, 'no sign-in on a static site');
  // The exported site names the same example district and credits the same source.
  const snap = await getJSON(`${BASE}/api/v1/snapshot`);
  assert.equal(await page.locator('#search').getAttribute('placeholder'), `np. ${snap.example_district}`);
  assert.ok((await page.locator('footer').innerText()).includes(snap.attribution));
  const pt = await findPoint(page, (s) => s && !s.hid);
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#profile:not([hidden]) .cat svg');
  await page.screenshot({ path: path.join(OUT, 'static-export.png') });
  await context.close();
});
