// Pure parts of the web map (no DOM, no map, no state): colour classes and hexagon
// sizes. An ES module imported by app.js; unit-tested by tests/web/classes.test.mjs.

// Average area of an H3 hexagon by resolution, km² (the H3 documentation's table).
export const HEX_KM2 = { 5: 252.9, 6: 36.13, 7: 5.161, 8: 0.7373, 9: 0.1053, 10: 0.01504 };

/** `x` rounded to `digits` decimals: what the map shows, and what it classes. */
export function roundTo(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Persons per km² in a hexagon of H3 resolution `res` (one decimal); null if unknown. */
export function density(persons, res) {
  const area = HEX_KM2[res];
  return area ? roundTo(persons / area, 1) : null;
}

/**
 * Sequential classes of the positive values, at most `n`, by quantiles of the distinct
 * values. `breaks[i]` starts class i + 1 (a value v is in the first class whose start
 * is at most v, as MapLibre's `step` does); `classes[i]` is the [lowest, highest] value
 * in class i. Values should be rounded as shown: then no two classes show the same
 * bound.
 */
export function sequentialClasses(values, n) {
  const pos = [...new Set(values.filter((v) => v > 0))].sort((a, b) => a - b);
  const k = Math.min(n, pos.length);
  const breaks = [];
  for (let i = 1; i < k; i++) breaks.push(pos[Math.floor((i * pos.length) / k)]);
  const uniq = [...new Set(breaks)];
  const starts = [pos[0], ...uniq];
  const classes = [];
  starts.forEach((lo, i) => {
    if (lo === undefined) return;
    const inClass = pos.filter((v) => v >= lo && (i + 1 >= starts.length || v < starts[i + 1]));
    classes.push([lo, inClass[inClass.length - 1]]);
  });
  return { breaks: uniq, classes };
}

/**
 * Thresholds of a diverging scale of changes: |change| up to t1 is "no change", t1 to
 * t2 a change, beyond t2 a large one (the 33rd and 75th percentiles of |change|, t2
 * at least one `step` above t1).
 */
export function divergingThresholds(values, step) {
  const abs = values.map(Math.abs).filter((v) => v > 0).sort((a, b) => a - b);
  const q = (p) => (abs.length ? abs[Math.min(abs.length - 1, Math.floor(p * abs.length))] : 0);
  const t1 = q(0.33);
  return [t1, Math.max(q(0.75), t1 + step)];
}

/**
 * A point inside a polygon for its label, as GEOS's interior point does: on the
 * horizontal line through the middle of the outer ring's height, the middle of the
 * widest stretch that lies inside (holes and every part of a MultiPolygon counted;
 * the part with the largest bounding box is labelled). `geometry` is GeoJSON.
 */
export function labelPoint(geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
  let best = null;
  for (const rings of polys) {
    const outer = rings[0] || [];
    if (outer.length < 4) continue;
    const ys = outer.map((p) => p[1]);
    const xs = outer.map((p) => p[0]);
    const [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
    const size = (Math.max(...xs) - Math.min(...xs)) * (ymax - ymin);
    // A line through a vertex is nudged so crossings are counted once.
    let y = (ymin + ymax) / 2;
    if (ys.includes(y)) y += (ymax - ymin) * 1e-7;
    const crossings = [];
    for (const ring of rings) {
      for (let i = 0; i + 1 < ring.length; i++) {
        const [a, b] = [ring[i], ring[i + 1]];
        if ((a[1] > y) !== (b[1] > y)) crossings.push(a[0] + ((y - a[1]) * (b[0] - a[0])) / (b[1] - a[1]));
      }
    }
    crossings.sort((p, q) => p - q);
    let width = -1, at = null;
    for (let i = 0; i + 1 < crossings.length; i += 2) {
      if (crossings[i + 1] - crossings[i] > width) { width = crossings[i + 1] - crossings[i]; at = [(crossings[i] + crossings[i + 1]) / 2, y]; }
    }
    if (at && (!best || size > best.size)) best = { size, at };
  }
  return best ? best.at : null;
}

// Needs against help: a 3 × 3 bivariate palette (after Joshua Stevens' "Bivariate
// Choropleth Maps: A How-to Guide"), keyed `need-help`: need 1–3 from low to high rate
// per 1,000, help 1–3 from near to far (or no) help. Red grows with need, blue with
// thin help; `3-3`, high need and thin help, is the darkest.
export const BIVARIATE = {
  '1-1': '#e8e8e8', '2-1': '#e4acac', '3-1': '#c85a5a',
  '1-2': '#b0d5df', '2-2': '#ad9ea5', '3-2': '#985356',
  '1-3': '#64acbe', '2-3': '#627f8c', '3-3': '#574249',
};

/** Relative luminance of a `#rrggbb` colour (WCAG 2.x definition). */
export function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * The districts to list under "high need, thin help", most in need first: those of
 * class `3-3` in a needs document (as /api/v1/needs answers), with what the list shows.
 */
export function flaggedDistricts(doc) {
  return doc.districts
    .filter((d) => d.need_class === 3 && d.help_class === 3)
    .sort((a, b) => b.rate_per_1000 - a.rate_per_1000 || a.code.localeCompare(b.code))
    .map((d) => ({ code: d.code, name: d.name, rate: d.rate_per_1000, km: d.nearest ? d.nearest.km : null, institutions: d.institutions }));
}
