// Unit tests of the web map's pure parts (web/classes.js), with node:test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BIVARIATE, HEX_KM2, density, divergingThresholds, flaggedDistricts, labelPoint, luminance, roundTo, sequentialClasses } from '../../web/classes.js';

// A seeded generator, so a failure can be replayed.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// Where MapLibre's `step` puts v: the last class whose start is at most v.
const classOf = (v, breaks) => breaks.filter((b) => b <= v).length;

test('sequential classes: every positive value in exactly one class, its range as the map colours it', () => {
  const r = rng(7);
  for (let round = 0; round < 500; round++) {
    const n = 1 + Math.floor(r() * 60);
    const scale = [1, 10, 1000][round % 3];
    const values = Array.from({ length: n }, () => roundTo(r() * scale, round % 2 ? 1 : 0));
    const { breaks, classes } = sequentialClasses(values, 5);
    assert.ok(classes.length <= 5);
    assert.equal(breaks.length, Math.max(0, classes.length - 1));
    for (const v of values.filter((x) => x > 0)) {
      const i = classOf(v, breaks);
      const [lo, hi] = classes[i];
      assert.ok(lo <= v && v <= hi, `${v} coloured as class ${i} [${lo}, ${hi}]`);
    }
    // Classes in order, never overlapping, never showing the same bound twice (the
    // rate legend once said "7,9" for two colours).
    const shown = classes.flatMap(([lo, hi]) => (lo === hi ? [lo] : [lo, hi]));
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i] > shown[i - 1], JSON.stringify(classes));
  }
});

test('sequential classes of rates rounded as shown keep distinct bounds where raw rates would not', () => {
  // Raw rates 7.86 and 7.94 both show as "7,9"; classed raw, they could end two classes.
  const raw = [1.2, 3.4, 5.5, 7.86, 7.94, 9.1, 12.3, 15.0, 20.2, 31.5];
  const { classes } = sequentialClasses(raw.map((x) => roundTo(x, 1)), 5);
  const labels = classes.flatMap(([lo, hi]) => [lo.toFixed(1), hi.toFixed(1)]);
  const bounds = classes.map(([lo, hi]) => `${lo.toFixed(1)}–${hi.toFixed(1)}`);
  for (let i = 1; i < classes.length; i++) assert.notEqual(classes[i][0].toFixed(1), classes[i - 1][1].toFixed(1), bounds.join(' '));
  assert.ok(labels.length > 0);
});

test('no positive values: no classes', () => {
  assert.deepEqual(sequentialClasses([0, 0], 5), { breaks: [], classes: [] });
  assert.deepEqual(sequentialClasses([], 5), { breaks: [], classes: [] });
  assert.deepEqual(sequentialClasses([4, 4, 4], 5), { breaks: [], classes: [[4, 4]] });
});

test('density: persons per km² against H3 average areas', () => {
  assert.equal(density(0, 8), 0);
  assert.equal(density(HEX_KM2[8] * 100, 8), 100);
  // The same persons in a hexagon seven times larger: a seventh of the density, within
  // the areas' own ratio (H3 areas are averages, not exact multiples).
  const ratio = density(700, 8) / density(700, 7);
  assert.ok(Math.abs(ratio - HEX_KM2[7] / HEX_KM2[8]) < 0.01 * ratio);
  assert.equal(density(5, 3), null);
});

test('diverging thresholds: ordered, at least a step apart, from |changes|', () => {
  assert.deepEqual(divergingThresholds([], 1), [0, 1]);
  const [t1, t2] = divergingThresholds([-30, -2, 1, 3, 5, 8, 40], 1);
  assert.ok(t1 > 0 && t2 >= t1 + 1);
  const [a, b] = divergingThresholds([2, 2, 2, 2], 0.1);
  assert.equal(a, 2);
  assert.equal(b, 2.1);
});

// Even-odd point in polygon, independent of labelPoint's scan.
function inside([x, y], rings) {
  let c = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
  }
  return c;
}

test('label points lie inside concave shapes, rings with holes and the largest part', () => {
  // A U shape: its centroid (and its bounding box's centre) is outside, in the notch.
  const u = [[[0, 0], [6, 0], [6, 6], [4, 6], [4, 2], [2, 2], [2, 6], [0, 6], [0, 0]]];
  const p = labelPoint({ type: 'Polygon', coordinates: u });
  assert.ok(inside(p, u), JSON.stringify(p));
  // A square with a square hole in the middle.
  const holed = [[[0, 0], [9, 0], [9, 9], [0, 9], [0, 0]], [[3, 3], [6, 3], [6, 6], [3, 6], [3, 3]]];
  const q = labelPoint({ type: 'Polygon', coordinates: holed });
  assert.ok(inside(q, holed), JSON.stringify(q));
  // Two parts: the label goes to the larger.
  const r = labelPoint({ type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]], [[[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]] });
  assert.ok(r[0] > 10 && r[1] > 10, JSON.stringify(r));
  assert.equal(labelPoint({ type: 'Point', coordinates: [1, 2] }), null);
});

test('label points of random star-shaped polygons lie inside', () => {
  const r = rng(11);
  for (let n = 0; n < 300; n++) {
    const k = 5 + Math.floor(r() * 20);
    const ring = [];
    for (let i = 0; i < k; i++) {
      const a = (2 * Math.PI * i) / k;
      const d = 0.2 + r();
      ring.push([Math.cos(a) * d, Math.sin(a) * d]);
    }
    ring.push(ring[0]);
    const p = labelPoint({ type: 'Polygon', coordinates: [ring] });
    assert.ok(inside(p, [ring]), JSON.stringify({ p, ring }));
  }
});

test('bivariate palette: nine distinct colours, darker with more need and with thinner help', () => {
  // WCAG's luminance of known colours first.
  assert.equal(luminance('#ffffff'), 1);
  assert.equal(luminance('#000000'), 0);
  assert.ok(Math.abs(luminance('#777777') - 0.1845) < 1e-3);
  const keys = Object.keys(BIVARIATE);
  assert.equal(keys.length, 9);
  assert.equal(new Set(Object.values(BIVARIATE)).size, 9);
  for (let n = 1; n <= 3; n++) {
    for (let h = 1; h <= 3; h++) {
      const here = luminance(BIVARIATE[`${n}-${h}`]);
      if (n < 3) assert.ok(luminance(BIVARIATE[`${n + 1}-${h}`]) < here, `need ${n}→${n + 1} at help ${h}`);
      if (h < 3) assert.ok(luminance(BIVARIATE[`${n}-${h + 1}`]) < here, `help ${h}→${h + 1} at need ${n}`);
    }
  }
  assert.equal(keys.reduce((a, k) => (luminance(BIVARIATE[k]) < luminance(BIVARIATE[a]) ? k : a)), '3-3');
});

test('the high-need, thin-help list: class 3-3 only, most in need first, no hidden district', () => {
  const d = (code, need, help, rate, km) => ({ code, name: code.toLowerCase(), need_class: need, help_class: help,
    rate_per_1000: rate, nearest: km === null ? null : { km }, institutions: km === null ? 0 : 2 });
  const doc = { districts: [d('A', 3, 3, 12.5, 3.1), d('B', 3, 2, 40, 1), d('C', null, 3, null, 4), d('D', 3, 3, 30, null),
    d('E', 2, 3, 9, 5), d('F', 3, 3, 12.5, 2)] };
  assert.deepEqual(flaggedDistricts(doc).map((x) => x.code), ['D', 'A', 'F']);
  assert.deepEqual(flaggedDistricts(doc)[0], { code: 'D', name: 'd', rate: 30, km: null, institutions: 0 });
});
