// Revitalisation delineation (Ustawa o rewitalizacji z 9 października 2015, art. 9 and
// 10): the pure parts (no DOM, no map). Unit-tested by tests/web/revit.test.mjs.
//
// Art. 9: a degraded area is one in a state of crisis because of a concentration of
// negative social phenomena, with at least one negative economic, environmental,
// spatial-functional or technical phenomenon as well. Art. 10: the revitalisation area,
// all or part of the degraded area, may cover at most 20 % of the gmina's area and
// hold at most 30 % of its residents.

export const AREA_LIMIT = 0.2;
export const POPULATION_LIMIT = 0.3;
/** Kinds of indicator the law names; all but `social` are the "other" phenomena. */
export const KINDS = ['social', 'economic', 'environmental', 'spatial', 'technical'];

// ---------- the user's own indicators (CSV) ----------

/** Splits one CSV line on `sep`, with "quoted" fields ("" for a quote inside). */
function splitLine(line, sep) {
  const out = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

const CITY_CODES = ['city', 'miasto', 'gmina', '*'];

/**
 * Reads per-district indicators a user brings: a header with a code column (the
 * first, or one named district_code / kod / code / osiedle) and one column per
 * indicator; one row per district (its code), optionally one for the whole city
 * (`city`, `miasto`, `gmina` or `*`). Comma- or semicolon-separated (as Polish Excel
 * saves it, with decimal commas); an empty cell is "no data". Every problem is
 * reported with its line, column and value; nothing is dropped silently.
 * Returns `{ indicators: [{ name, values: {code: number|null}, city: number|null }], errors }`.
 */
export function parseIndicatorCsv(text, districtCodes) {
  const errors = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  if (!lines.length) return { indicators: [], errors: [{ line: 1, column: '', value: '', message: 'the file is empty' }] };
  const sep = lines[0].includes(';') ? ';' : lines[0].includes('\t') ? '\t' : ',';
  const header = splitLine(lines[0], sep);
  let codeCol = header.findIndex((h) => ['district_code', 'kod', 'code', 'osiedle', 'kod_osiedla'].includes(h.toLowerCase()));
  if (codeCol < 0) codeCol = 0;
  const cols = header.map((h, i) => i).filter((i) => i !== codeCol);
  if (!cols.length) errors.push({ line: 1, column: header[0] || '', value: lines[0], message: 'no indicator column: add one column per indicator after the district code' });
  cols.forEach((i) => { if (!header[i]) errors.push({ line: 1, column: `#${i + 1}`, value: '', message: 'an indicator column has no name' }); });
  const known = new Set(districtCodes);
  const indicators = cols.map((i) => ({ name: header[i], values: {}, city: null }));
  const seen = new Set();
  for (let n = 1; n < lines.length; n++) {
    if (!lines[n].trim()) continue;
    const cells = splitLine(lines[n], sep);
    const code = cells[codeCol] || '';
    const isCity = CITY_CODES.includes(code.toLowerCase());
    if (!isCity && !known.has(code)) {
      errors.push({ line: n + 1, column: header[codeCol], value: code, message: 'not a district code of this city (nor city / miasto for the whole city)' });
      continue;
    }
    if (seen.has(code.toLowerCase())) {
      errors.push({ line: n + 1, column: header[codeCol], value: code, message: 'this district appears twice' });
      continue;
    }
    seen.add(code.toLowerCase());
    cols.forEach((i, k) => {
      const raw = cells[i] === undefined ? '' : cells[i];
      let v = null;
      if (raw !== '') {
        const t = sep === ';' ? raw.replace(/\s/g, '').replace(',', '.') : raw.replace(/\s/g, '');
        v = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : NaN;
        if (!Number.isFinite(v)) {
          errors.push({ line: n + 1, column: header[i], value: raw, message: 'not a number: write e.g. 12.5 (or 12,5 in a file separated by ;), or leave the cell empty if unknown' });
          v = null;
        }
      }
      if (isCity) indicators[k].city = v; else indicators[k].values[code] = v;
    });
  }
  return { indicators, errors };
}

// ---------- assessment ----------

/**
 * Standardises each indicator against the city value and marks districts in crisis.
 * `districts`: [{ code, name, population, area_km2 }]; `indicators`: [{ id, label, kind
 * (KINDS), higherIsWorse, values: {code: number|null}, city: number|null }]; a
 * district is in social crisis when worse than the city on at least `minSocial` social
 * indicators, and degraded when, besides, it is worse on at least one other indicator
 * (if any is given). A missing value (hidden to protect privacy, or not in the file)
 * is never guessed: where it could change the outcome the district is `undecided`.
 * Without a city value, the city is the population-weighted mean of the districts
 * with a value (`cityFrom: 'districts'`).
 */
export function assess(districts, indicators, minSocial) {
  const inds = indicators.map((ind) => {
    let city = ind.city, cityFrom = 'given';
    if (city === null || city === undefined) {
      const withValue = districts.filter((d) => ind.values[d.code] !== null && ind.values[d.code] !== undefined && d.population > 0);
      const pop = withValue.reduce((s, d) => s + d.population, 0);
      city = pop > 0 ? withValue.reduce((s, d) => s + ind.values[d.code] * d.population, 0) / pop : null;
      cityFrom = 'districts';
    }
    return { ...ind, city, cityFrom };
  });
  const social = inds.filter((i) => i.kind === 'social');
  const other = inds.filter((i) => i.kind !== 'social');
  const rows = districts.map((d) => {
    const cells = inds.map((ind) => {
      const v = ind.values[d.code];
      if (v === null || v === undefined || ind.city === null) return { value: v === undefined ? null : v, index: null, worse: null };
      const index = ind.city !== 0 ? v / ind.city : null;
      return { value: v, index, worse: ind.higherIsWorse ? v > ind.city : v < ind.city };
    });
    const count = (group, what) => group.filter((ind) => cells[inds.indexOf(ind)].worse === what).length;
    const sWorse = count(social, true), sUnknown = count(social, null);
    const oWorse = count(other, true), oUnknown = count(other, null);
    const crisisYes = sWorse >= minSocial;
    const crisisMaybe = sWorse + sUnknown >= minSocial;
    const otherYes = other.length === 0 || oWorse >= 1;
    const otherMaybe = other.length === 0 || oWorse + oUnknown >= 1;
    const status = crisisYes && otherYes ? 'degraded' : crisisMaybe && otherMaybe ? 'undecided' : 'not';
    return { code: d.code, name: d.name, population: d.population, area_km2: d.area_km2, cells,
      socialWorse: sWorse, socialUnknown: sUnknown, otherWorse: oWorse, otherUnknown: oUnknown, crisis: crisisYes, status };
  });
  return { indicators: inds, rows, minSocial, otherGiven: other.length > 0 };
}

// ---------- the revitalisation area against the law's limits ----------

/**
 * The chosen revitalisation area (district codes) against art. 10: its share of the
 * gmina's area (≤ 20 %) and of its residents (≤ 30 %), by how much it exceeds each (in
 * percentage points, km² and residents), and the chosen districts outside the degraded
 * area (which the law does not allow).
 */
export function checkArea(selected, districts, degraded) {
  const chosen = new Set(selected);
  const total = districts.reduce((a, d) => ({ area: a.area + d.area_km2, pop: a.pop + (d.population || 0) }), { area: 0, pop: 0 });
  const inSel = districts.filter((d) => chosen.has(d.code));
  const area = inSel.reduce((s, d) => s + d.area_km2, 0);
  const population = inSel.reduce((s, d) => s + (d.population || 0), 0);
  const areaShare = total.area > 0 ? area / total.area : 0;
  const populationShare = total.pop > 0 ? population / total.pop : 0;
  const degradedSet = new Set(degraded);
  return {
    districts: inSel.length, area, population, areaTotal: total.area, populationTotal: total.pop,
    areaShare, populationShare,
    areaOk: areaShare <= AREA_LIMIT + 1e-12, populationOk: populationShare <= POPULATION_LIMIT + 1e-12,
    areaExcessPp: Math.max(0, (areaShare - AREA_LIMIT) * 100), areaExcessKm2: Math.max(0, area - AREA_LIMIT * total.area),
    populationExcessPp: Math.max(0, (populationShare - POPULATION_LIMIT) * 100),
    populationExcess: Math.max(0, Math.ceil(population - POPULATION_LIMIT * total.pop - 1e-9)),
    outside: inSel.filter((d) => !degradedSet.has(d.code)).map((d) => d.code),
  };
}

/** The assessment as CSV (UTF-8, comma-separated), one row per district. */
export function assessmentCsv(result, selected) {
  const q = (s) => (/[",\n]/.test(String(s)) ? `"${String(s).replace(/"/g, '""')}"` : String(s));
  const chosen = new Set(selected);
  const head = ['district_code', 'name', 'population', 'area_km2'];
  for (const ind of result.indicators) head.push(`${ind.id}`, `${ind.id}_index`, `${ind.id}_worse_than_city`);
  head.push('social_worse', 'social_no_data', 'other_worse', 'status', 'revitalisation_area');
  const lines = [head.map(q).join(',')];
  lines.push(['city', '', '', '', ...result.indicators.flatMap((i) => [i.city === null ? '' : i.city, 1, '']), '', '', '', '', ''].map(q).join(','));
  for (const r of result.rows) {
    lines.push([r.code, r.name, r.population ?? '', r.area_km2,
      ...r.cells.flatMap((c) => [c.value === null ? '' : c.value, c.index === null ? '' : c.index.toFixed(3), c.worse === null ? '' : c.worse ? 'yes' : 'no']),
      r.socialWorse, r.socialUnknown, r.otherWorse, r.status, chosen.has(r.code) ? 'yes' : 'no'].map(q).join(','));
  }
  return lines.join('\n') + '\n';
}
