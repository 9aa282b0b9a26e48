// Unit tests of the revitalisation delineation's pure parts (web/revit.js), with
// node:test: hand-computed cases of the law's limits and of the crisis rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assess, assessmentCsv, checkArea, parseIndicatorCsv } from '../../web/revit.js';

// Four districts, 100 km² and 10,000 residents in all.
const D = [
  { code: 'A', name: 'Alfa', area_km2: 10, population: 1000 },
  { code: 'B', name: 'Beta', area_km2: 20, population: 2000 },
  { code: 'C', name: 'Gamma', area_km2: 30, population: 3000 },
  { code: 'D', name: 'Delta', area_km2: 40, population: 4000 },
];

test('art. 10 limits, by hand: 20 % of the area, 30 % of the residents', () => {
  // A alone: 10 % and 10 %: within both.
  let c = checkArea(['A'], D, ['A', 'B']);
  assert.equal(c.areaShare, 0.1);
  assert.equal(c.populationShare, 0.1);
  assert.ok(c.areaOk && c.populationOk);
  assert.deepEqual(c.outside, []);
  // A + B: 30 km² of 100 (10 pp, 10 km² over 20 %); 3,000 of 10,000 residents is
  // exactly 30 %: allowed ("at most").
  c = checkArea(['A', 'B'], D, ['A', 'B']);
  assert.equal(c.areaOk, false);
  assert.ok(Math.abs(c.areaExcessPp - 10) < 1e-9 && Math.abs(c.areaExcessKm2 - 10) < 1e-9);
  assert.equal(c.populationOk, true);
  assert.equal(c.populationExcess, 0);
  // D: 40 % of the area (20 pp, 20 km² over) and 40 % of the residents (10 pp, 1,000
  // residents over); D is not in the degraded area.
  c = checkArea(['D'], D, ['A', 'B']);
  assert.ok(!c.areaOk && !c.populationOk);
  assert.ok(Math.abs(c.areaExcessPp - 20) < 1e-9 && Math.abs(c.areaExcessKm2 - 20) < 1e-9);
  assert.ok(Math.abs(c.populationExcessPp - 10) < 1e-9);
  assert.equal(c.populationExcess, 1000);
  assert.deepEqual(c.outside, ['D']);
  // Nothing chosen.
  c = checkArea([], D, []);
  assert.ok(c.areaOk && c.populationOk && c.area === 0 && c.districts === 0);
});

test('crisis: worse than the city on at least N social indicators, plus one other; a hidden value is never guessed', () => {
  const poverty = { id: 'poverty', kind: 'social', higherIsWorse: true, city: 20, values: { A: 30, B: 25, C: 10, D: null } };
  const unemployment = { id: 'unemployment', kind: 'social', higherIsWorse: true, city: 10, values: { A: 12, B: 8, C: 11, D: 15 } };
  const turnout = { id: 'turnout', kind: 'social', higherIsWorse: false, city: 50, values: { A: 40, B: 45, C: 60, D: 55 } };
  let r = assess(D, [poverty, unemployment, turnout], 2);
  const by = Object.fromEntries(r.rows.map((x) => [x.code, x]));
  // A: worse on all three (30 > 20, 12 > 10, 40 < 50). B: poverty and turnout. C: only
  // unemployment. D: unemployment only, poverty hidden: could be 2 → undecided.
  assert.deepEqual([by.A.socialWorse, by.B.socialWorse, by.C.socialWorse, by.D.socialWorse], [3, 2, 1, 1]);
  assert.deepEqual([by.A.status, by.B.status, by.C.status, by.D.status], ['degraded', 'degraded', 'not', 'undecided']);
  assert.equal(by.A.cells[0].index, 1.5);
  assert.equal(by.D.cells[0].index, null);
  // With an economic indicator too: degraded only where it is worse as well.
  const firms = { id: 'firms', kind: 'economic', higherIsWorse: false, city: 100, values: { A: 120, B: 80, C: 50, D: 90 } };
  r = assess(D, [poverty, unemployment, turnout, firms], 2);
  assert.deepEqual(r.rows.map((x) => x.status), ['not', 'degraded', 'not', 'undecided']);
  // N = 3: only A qualifies; D cannot reach 3 even if its hidden poverty is worse
  // (its turnout, 55, is better than the city's 50), so it is decided: not in crisis.
  r = assess(D, [poverty, unemployment, turnout], 3);
  assert.deepEqual(r.rows.map((x) => x.status), ['degraded', 'not', 'not', 'not']);
});

test('without a city value, the city is the population-weighted mean of the districts with one', () => {
  const ind = { id: 'x', kind: 'social', higherIsWorse: true, city: null, values: { A: 10, B: 20, C: null, D: 5 } };
  const r = assess(D, [ind], 1);
  // (10·1000 + 20·2000 + 5·4000) / 7000 = 10.
  assert.equal(r.indicators[0].city, 10);
  assert.equal(r.indicators[0].cityFrom, 'districts');
  assert.deepEqual(r.rows.map((x) => x.status), ['not', 'degraded', 'undecided', 'not']);
});

test('own indicators from CSV: Polish Excel (semicolons, decimal commas), quotes, a city row, and errors by line and column', () => {
  const csv = '\uFEFFkod;"Przestępstwa na 1000";Frekwencja\r\nA;12,5;40\r\nB;"3,0";\r\nmiasto;7;55\r\n';
  const { indicators, errors } = parseIndicatorCsv(csv, ['A', 'B', 'C']);
  assert.deepEqual(errors, []);
  assert.deepEqual(indicators.map((i) => i.name), ['Przestępstwa na 1000', 'Frekwencja']);
  assert.deepEqual(indicators[0].values, { A: 12.5, B: 3 });
  assert.equal(indicators[0].city, 7);
  assert.deepEqual(indicators[1].values, { A: 40, B: null });
  const bad = parseIndicatorCsv('code,crime\nA,1.5\nZZ,2\nB,many\nA,3\n', ['A', 'B']);
  assert.deepEqual(bad.errors.map((e) => [e.line, e.column, e.value]), [[3, 'code', 'ZZ'], [4, 'crime', 'many'], [5, 'code', 'A']]);
  assert.ok(bad.errors.every((e) => e.message.length > 10));
  assert.equal(parseIndicatorCsv('', ['A']).errors[0].message, 'the file is empty');
  assert.match(parseIndicatorCsv('code\nA\n', ['A']).errors[0].message, /no indicator column/);
});

test('the CSV of the assessment: a row per district, the city first, the chosen area marked', () => {
  const ind = { id: 'poverty', kind: 'social', higherIsWorse: true, city: 20, values: { A: 30, B: 10, C: null, D: 20 } };
  const csv = assessmentCsv(assess(D, [ind], 1), ['A']);
  const rows = csv.trim().split('\n').map((l) => l.split(','));
  assert.deepEqual(rows[0], ['district_code', 'name', 'population', 'area_km2', 'poverty', 'poverty_index', 'poverty_worse_than_city',
    'social_worse', 'social_no_data', 'other_worse', 'status', 'revitalisation_area']);
  assert.equal(rows[1][0], 'city');
  assert.deepEqual(rows[2], ['A', 'Alfa', '1000', '10', '30', '1.500', 'yes', '1', '0', '0', 'degraded', 'yes']);
  assert.deepEqual(rows[4].slice(4, 7), ['', '', '']);
  assert.equal(rows[4][10], 'undecided');
  assert.equal(rows.length, 6);
});
