// kmapa admin panel: a client of the admin API (/admin/api/…), with an administrator's
// bearer token kept in this tab only (sessionStorage). Polish first, English available.
const T = {
  pl: {
    title: 'Panel administratora', map: 'Mapa', signout: 'Wyloguj', signintitle: 'Logowanie administratora',
    signinhelp: 'Token administratora wydaje się poleceniem kmapa users add NAZWA --role admin. Token zostaje tylko w tej karcie przeglądarki.',
    token: 'Token', signin: 'Zaloguj', users: 'Użytkownicy', name: 'Nazwa', role: 'Rola', since: 'Od', add: 'Dodaj',
    analyst: 'analityk', admin: 'administrator', metrics: 'monitoring (metryki)', public: 'publiczny', revoke: 'Odbierz dostęp',
    log: 'Dziennik działań', logcsv: 'Pobierz dziennik (CSV)', when: 'Kiedy', who: 'Kto', what: 'Co', onwhat: 'Na czym', result: 'Wynik',
    badtoken: 'Nieprawidłowy token.', notadmin: 'Ten token nie jest tokenem administratora.',
    newtoken: (n) => `Token dla ${n} – skopiuj go teraz, nie zostanie pokazany ponownie:`,
    confirm: (n) => `Odebrać dostęp użytkownikowi ${n}?`, lang: 'EN', langlabel: 'EN – English version',
    batches: 'Partie danych', uploadhelp: 'Plik OPS lub PUP już spseudonimizowany (CSV lub Parquet). Po wczytaniu: podsumowanie i odrzucone wiersze z powodami; identyfikatory nigdy nie są pokazywane.',
    file: 'Plik', upload: 'Wczytaj', source: 'Źródło', rows: 'Wiersze: przyjęte / odrzucone', status: 'Stan', active: 'aktywna', withdrawn: 'wycofana',
    withdraw: 'Wycofaj', restore: 'Przywróć', reasonq: (a) => `Powód (${a}) – zostanie zapisany przy partii:`,
    summary: (s) => `${s.file}: wierszy ${s.rows_read}, przyjętych ${s.rows_accepted}, odrzuconych ${s.rows_rejected}${s.already_ingested ? ' (ten plik był już wczytany)' : ''}.`,
    rejectline: (r) => `wiersz ${r.line}, kolumna „${r.column}”${r.value !== null && r.value !== undefined ? `, wartość „${r.value}”` : ''}: ${r.reason}`, line: 'Wiersz',
    publishing: 'Publikacja', publishhelp: 'Podgląd chroni i sprawdza aktywne partie, nie zmieniając niczego publicznie. Publikacja tworzy nową wersję mapy; przywrócenie publikuje ponownie wcześniejszą.',
    preview: 'Podgląd następnej wersji', previewing: 'Chronię i sprawdzam dane…', comment: 'Komentarz', publish: 'Opublikuj', version: 'Wersja', hidden: 'Ukryte komórki',
    served: 'na mapie', rollback: 'Przywróć tę wersję', rollbackq: (n) => `Komentarz do przywrócenia wersji ${n}:`, copyof: (n) => `kopia wersji ${n}`,
    verdict: (a, n) => `Audyt ${a.passed ? 'zaliczony' : 'NIEZALICZONY'}: ${a.hidden_cells} ukrytych komórek. Porównanie z wersją ${n}:`,
    same: 'Nic się nie zmieniło względem opublikowanej wersji – nie ma czego publikować.',
    losshead: ['warstwa', 'komórki', 'ukryte', 'ukryte osoby'], changehead: ['miara', 'rok', 'zmienione wartości', 'nowo ukryte', 'nowo pokazane', 'nowe komórki'],
    layer: { districts: 'osiedla', parents: 'obszary', city: 'miasto', h3: 'heksagony' },
    instchanged: 'Spis instytucji zmieniony od opublikowanej wersji.',
    pm_measure: 'Miara na mapie', pm_year: 'Rok', pm_shown: 'pokazane', pm_hidden: 'ukryte', pm_new: 'ukryte, a w opublikowanej wersji pokazane',
    alloops: 'wszyscy klienci OPS', allpup: 'wszyscy klienci PUP',
    institutions: 'Instytucje', insthelp: 'Spis instytucji pomocowych pokazywany na mapie. Każda zmiana jest sprawdzana z kontraktem danych; na mapę trafia przy następnej publikacji.',
    instnew: 'Dodaj instytucję', instcsv: 'Pobierz spis (CSV)', instadd: 'Nowa instytucja', instedit: (id) => `Zmiana instytucji ${id}`, edit: 'Zmień', retire: 'Wycofaj',
    retireq: (n) => `Powód wycofania „${n}” – zostanie zapisany:`, save: 'Zapisz', cancel: 'Anuluj', wholecity: 'całe miasto',
    pickhelp: 'Położenie: kliknij na mapie, znajdź adres albo wpisz współrzędne.', geocode: 'Znajdź adres na mapie', f_name: 'Nazwa', f_type: 'Rodzaj (kod)', f_sector: 'Sektor', f_address: 'Adres',
    f_lat: 'Szerokość geogr.', f_lon: 'Długość geogr.', f_phone: 'Telefon', f_email: 'E-mail', f_website: 'Strona WWW', f_hours: 'Godziny otwarcia',
    f_places: 'Miejsca', f_staff: 'Pracownicy', f_categories: 'Problemy, w których pomaga', f_area: 'Obszar działania', f_description: 'Opis',
    sectors: { social_assistance: 'pomoc społeczna', labour_market: 'rynek pracy', police: 'policja', justice: 'wymiar sprawiedliwości i kuratela',
      education: 'oświata', health: 'ochrona zdrowia', ngo: 'organizacje pozarządowe', housing: 'mieszkalnictwo' },
  },
  en: {
    title: 'Admin panel', map: 'Map', signout: 'Sign out', signintitle: 'Administrator sign-in',
    signinhelp: 'An administrator token is issued with kmapa users add NAME --role admin. The token stays in this browser tab only.',
    token: 'Token', signin: 'Sign in', users: 'Users', name: 'Name', role: 'Role', since: 'Since', add: 'Add',
    analyst: 'analyst', admin: 'administrator', metrics: 'monitoring (metrics)', public: 'public', revoke: 'Revoke',
    log: 'Action log', logcsv: 'Download the log (CSV)', when: 'When', who: 'Who', what: 'What', onwhat: 'On what', result: 'Result',
    badtoken: 'Invalid token.', notadmin: 'This token is not an administrator\'s.',
    newtoken: (n) => `Token for ${n} – copy it now, it will not be shown again:`,
    confirm: (n) => `Revoke ${n}'s access?`, lang: 'PL', langlabel: 'PL – wersja polska',
    batches: 'Data batches', uploadhelp: 'An OPS or PUP file, already pseudonymised (CSV or Parquet). Once read: a summary and the rejected rows with reasons; identifiers are never shown.',
    file: 'File', upload: 'Upload', source: 'Source', rows: 'Rows: accepted / rejected', status: 'Status', active: 'active', withdrawn: 'withdrawn',
    withdraw: 'Withdraw', restore: 'Restore', reasonq: (a) => `Reason (${a}) – kept with the batch:`,
    summary: (s) => `${s.file}: ${s.rows_read} rows, ${s.rows_accepted} accepted, ${s.rows_rejected} rejected${s.already_ingested ? ' (this file was read before)' : ''}.`,
    rejectline: (r) => `line ${r.line}, column "${r.column}"${r.value !== null && r.value !== undefined ? `, value "${r.value}"` : ''}: ${r.reason}`, line: 'Line',
    publishing: 'Publishing', publishhelp: 'A preview protects and audits the active batches without changing anything public. Publishing makes a new version of the map; a rollback publishes an earlier one again.',
    preview: 'Preview the next version', previewing: 'Protecting and auditing the data…', comment: 'Comment', publish: 'Publish', version: 'Version', hidden: 'Hidden cells',
    served: 'on the map', rollback: 'Restore this version', rollbackq: (n) => `Comment on restoring version ${n}:`, copyof: (n) => `copy of version ${n}`,
    verdict: (a, n) => `Audit ${a.passed ? 'passed' : 'FAILED'}: ${a.hidden_cells} hidden cells. Against version ${n}:`,
    same: 'Nothing changed against the published version: there is nothing to publish.',
    losshead: ['layer', 'cells', 'hidden', 'persons hidden'], changehead: ['measure', 'year', 'values changed', 'newly hidden', 'newly shown', 'new cells'],
    layer: { districts: 'districts', parents: 'parent areas', city: 'city', h3: 'hexagons' },
    instchanged: 'The institutions directory changed since the published version.',
    pm_measure: 'Measure on the map', pm_year: 'Year', pm_shown: 'shown', pm_hidden: 'hidden', pm_new: 'hidden, shown in the published version',
    alloops: 'all OPS clients', allpup: 'all PUP clients',
    institutions: 'Institutions', insthelp: 'The directory of helping institutions shown on the map. Every change is checked against the data contract; it reaches the map with the next publish.',
    instnew: 'Add an institution', instcsv: 'Download the directory (CSV)', instadd: 'New institution', instedit: (id) => `Editing institution ${id}`, edit: 'Edit', retire: 'Retire',
    retireq: (n) => `Why is "${n}" retired? (kept with it)`, save: 'Save', cancel: 'Cancel', wholecity: 'the whole city',
    pickhelp: 'Position: click on the map, find the address or type the coordinates.', geocode: 'Find the address on the map', f_name: 'Name', f_type: 'Type (code)', f_sector: 'Sector', f_address: 'Address',
    f_lat: 'Latitude', f_lon: 'Longitude', f_phone: 'Phone', f_email: 'E-mail', f_website: 'Website', f_hours: 'Opening hours',
    f_places: 'Places', f_staff: 'Staff', f_categories: 'Problems it helps with', f_area: 'Area of operation', f_description: 'Description',
    sectors: { social_assistance: 'social assistance', labour_market: 'labour market', police: 'police', justice: 'justice and probation',
      education: 'education', health: 'health care', ngo: 'NGOs', housing: 'housing' },
  },
};
// The log's words (stored in English, as the API gives them) as the panel shows them.
const WORDS = { pl: { 'add user': 'dodanie użytkownika', 'revoke user': 'odebranie dostępu', done: 'wykonano', 'no such user': 'nie ma takiego użytkownika',
  'upload batch': 'wczytanie partii', 'withdraw batch': 'wycofanie partii', 'restore batch': 'przywrócenie partii',
  'add institution': 'dodanie instytucji', 'edit institution': 'zmiana instytucji', 'retire institution': 'wycofanie instytucji',
  'refused by the data contract': 'odrzucone przez kontrakt danych', 'no such institution': 'nie ma takiej instytucji',
  preview: 'podgląd', publish: 'publikacja', 'nothing to publish': 'nie ma czego publikować', 'no such snapshot': 'nie ma takiej wersji' }, en: {} };
const word = (w) => WORDS[lang][w] || (lang === 'pl' && /^roll back to snapshot (\d+)$/.test(w) ? `przywrócenie wersji ${w.match(/\d+$/)[0]}` : w);
let institutions = [];
let lang = new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'pl';
let token = sessionStorage.getItem('kmapa-admin-token') || '';
const t = (k) => T[lang][k];
const $ = (id) => document.getElementById(id);
const hook = (window.kmapaAdmin = { ready: false, loads: 0 });

async function call(method, path, body) {
  const r = await fetch(path, { method, headers: Object.assign({ Authorization: 'Bearer ' + token },
    body ? { 'Content-Type': 'application/json' } : {}), body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) {
    let detail = '';
    try { detail = (await r.json()).detail || ''; } catch (_) { /* not JSON */ }
    const e = new Error(detail || `${r.status}`);
    e.status = r.status;
    throw e;
  }
  return r.status === 204 ? null : r.headers.get('content-type').includes('json') ? r.json() : r.text();
}

function cell(text) { const td = document.createElement('td'); td.textContent = text; return td; }

async function load() {
  const [users, log, batches, snaps, insts] = await Promise.all([call('GET', 'admin/api/users'), call('GET', 'admin/api/log?limit=200'),
    call('GET', 'admin/api/batches').catch(() => ({ batches: [] })), call('GET', 'admin/api/snapshots').catch(() => ({ snapshots: [] })),
    call('GET', 'admin/api/institutions').catch(() => ({ institutions: [] }))]);
  institutions = insts.institutions;
  $('inst-types').replaceChildren(...[...new Set(institutions.map((i) => i.type))].sort().map((k) => Object.assign(document.createElement('option'), { value: k })));
  $('institutions').tBodies[0].replaceChildren(...institutions.map((i) => {
    const tr = document.createElement('tr');
    tr.dataset.id = i.id;
    const td = document.createElement('td');
    const edit = Object.assign(document.createElement('button'), { type: 'button', textContent: t('edit') });
    edit.setAttribute('aria-label', `${t('edit')}: ${i.name}`);
    edit.addEventListener('click', () => openForm(i));
    const retire = Object.assign(document.createElement('button'), { type: 'button', textContent: t('retire') });
    retire.setAttribute('aria-label', `${t('retire')}: ${i.name}`);
    retire.addEventListener('click', async () => {
      const reason = window.prompt(T[lang].retireq(i.name));
      if (!reason) return;
      try { await call('POST', `admin/api/institutions/${encodeURIComponent(i.id)}/retire`, { reason }); $('inst-error').textContent = ''; } catch (e) { $('inst-error').textContent = e.message; }
      await load();
    });
    td.append(edit, ' ', retire);
    tr.append(cell(i.id), cell(i.name), cell(i.type), cell(i.address), td);
    return tr;
  }));
  $('snapshots').tBodies[0].replaceChildren(...snaps.snapshots.map((m) => {
    const tr = document.createElement('tr');
    tr.dataset.number = String(m.number);
    const td = document.createElement('td');
    if (m.number === snaps.served) {
      tr.dataset.served = 'true';
      td.textContent = t('served');
    } else {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = t('rollback');
      btn.setAttribute('aria-label', `${t('rollback')}: ${m.number}`);
      btn.addEventListener('click', async () => {
        const comment = window.prompt(T[lang].rollbackq(m.number));
        if (!comment) return;
        try {
          const made = await call('POST', 'admin/api/rollback', { snapshot: m.number, comment });
          await served(made.number);
          $('publish-error').textContent = '';
        } catch (e) { $('publish-error').textContent = e.message; }
        await load();
      });
      td.append(btn);
    }
    const note = [m.comment || '', m.copy_of ? `(${T[lang].copyof(m.copy_of)})` : ''].filter(Boolean).join(' ');
    tr.append(cell(String(m.number)), cell(m.published_at), cell(note), cell(String(m.hidden_cells)), td);
    return tr;
  }));
  $('batches').tBodies[0].replaceChildren(...batches.batches.map((b) => {
    const tr = document.createElement('tr');
    tr.dataset.id = String(b.id);
    tr.dataset.status = b.status;
    const action = b.status === 'withdrawn' ? 'restore' : 'withdraw';
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = t(action);
    btn.setAttribute('aria-label', `${t(action)}: ${b.file_name} (#${b.id})`);
    btn.addEventListener('click', async () => {
      const reason = window.prompt(T[lang].reasonq(t(action)));
      if (!reason) return;
      try { await call('POST', `admin/api/batches/${b.id}/${action}`, { reason }); $('batches-error').textContent = ''; } catch (e) { $('batches-error').textContent = e.message; }
      await load();
    });
    const td = document.createElement('td');
    td.append(btn);
    tr.append(cell(String(b.id)), cell(b.file_name), cell(b.sources), cell(b.ingested_at), cell(`${b.rows_accepted} / ${b.rows_rejected}`),
      cell(`${t(b.status) || b.status}${b.withdraw_reason ? ` (${b.withdraw_reason})` : ''}`), td);
    return tr;
  }));
  const tb = $('users').tBodies[0];
  tb.replaceChildren(...users.users.map((u) => {
    const tr = document.createElement('tr');
    tr.dataset.name = u.name;
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = t('revoke');
    b.setAttribute('aria-label', `${t('revoke')}: ${u.name}`);
    b.addEventListener('click', async () => {
      if (!window.confirm(T[lang].confirm(u.name))) return;
      try { await call('DELETE', `admin/api/users/${encodeURIComponent(u.name)}`); $('users-error').textContent = ''; } catch (e) { $('users-error').textContent = e.message; }
      await load();
    });
    const td = document.createElement('td');
    td.append(b);
    tr.append(cell(u.name), cell(t(u.role) || u.role), cell(u.created_at), td);
    return tr;
  }));
  $('log').tBodies[0].replaceChildren(...log.entries.map((e) => {
    const tr = document.createElement('tr');
    tr.append(cell(e.at), cell(e.actor), cell(word(e.action)), cell(e.target), cell(word(e.result)));
    return tr;
  }));
  hook.loads += 1;
}

function texts() {
  document.documentElement.lang = lang;
  document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  $('lang').textContent = t('lang');
  $('lang').setAttribute('lang', lang === 'pl' ? 'en' : 'pl');
  $('lang').setAttribute('aria-label', t('langlabel'));
}

async function signIn(tok) {
  token = tok;
  try {
    await load();
  } catch (e) {
    token = '';
    sessionStorage.removeItem('kmapa-admin-token');
    $('signin-error').textContent = e.status === 401 ? t('badtoken') : e.status === 403 ? t('notadmin') : e.message;
    return;
  }
  sessionStorage.setItem('kmapa-admin-token', tok);
  $('signin-form').hidden = true;
  $('panel').hidden = false;
  $('signout').hidden = false;
}

$('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()); });
$('signout').addEventListener('click', () => {
  token = '';
  sessionStorage.removeItem('kmapa-admin-token');
  $('panel').hidden = true; $('signout').hidden = true; $('signin-form').hidden = false;
});
$('lang').addEventListener('click', () => { lang = lang === 'pl' ? 'en' : 'pl'; texts(); if (token) load(); });
$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('new-name').value.trim();
  try {
    const u = await call('POST', 'admin/api/users', { name, role: $('new-role').value });
    const box = $('new-token');
    const code = document.createElement('code');
    code.textContent = u.token;
    box.replaceChildren(document.createTextNode(T[lang].newtoken(u.name) + ' '), code);
    box.hidden = false;
    $('users-error').textContent = '';
    $('new-name').value = '';
  } catch (err) { $('users-error').textContent = err.message; }
  await load();
});
// Upload with progress (XMLHttpRequest reports the bytes sent), then the summary and
// the rejected rows with their reasons.
$('upload-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const file = $('upload-file').files[0];
  if (!file) return;
  const bar = $('upload-progress');
  bar.hidden = false; bar.value = 0;
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `admin/api/batches?name=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader('Authorization', 'Bearer ' + token);
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((100 * ev.loaded) / ev.total); };
  xhr.onload = async () => {
    bar.hidden = true;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    const box = $('upload-result');
    if (xhr.status === 201) {
      const list = document.createElement('ul');
      list.className = 'rejects';
      for (const r of body.rejects || []) { const li = document.createElement('li'); li.textContent = T[lang].rejectline(r); list.append(li); }
      const p = document.createElement('p');
      p.textContent = T[lang].summary(body);
      box.replaceChildren(p, list);
      $('batches-error').textContent = '';
    } else {
      box.replaceChildren();
      $('batches-error').textContent = body.detail || `${xhr.status}`;
    }
    await load();
  };
  xhr.onerror = () => { bar.hidden = true; $('batches-error').textContent = 'upload failed'; };
  xhr.send(file);
});
// Waits until the public API serves snapshot `n` (the server reloads between requests).
async function served(n) {
  for (let i = 0; i < 200; i += 1) {
    const h = await fetch('health').then((r) => r.json()).catch(() => ({}));
    if (h.snapshot === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function table(head, rows) {
  const tbl = document.createElement('table');
  const tr = document.createElement('tr');
  for (const h of head) { const th = document.createElement('th'); th.textContent = h; tr.append(th); }
  tbl.createTHead().append(tr);
  const body = tbl.createTBody();
  for (const r of rows) { const row = document.createElement('tr'); row.append(...r.map((v) => cell(String(v)))); body.append(row); }
  return tbl;
}

$('preview').addEventListener('click', async () => {
  const box = $('preview-result');
  box.replaceChildren(document.createTextNode(t('previewing')));
  $('publish-form').hidden = true;
  $('preview').disabled = true;
  try {
    const p = await call('POST', 'admin/api/preview');
    const verdict = document.createElement('p');
    verdict.className = 'verdict';
    verdict.textContent = p.same_as_latest ? t('same') : T[lang].verdict(p.audit, p.against);
    const loss = Object.entries(p.layers).map(([name, l]) => {
      const kind = name.startsWith('h3') ? 'h3' : name;
      const label = `${T[lang].layer[kind] || name}${kind === 'h3' && name !== 'h3' ? ` (${name})` : ''}`;
      const pct = l.persons > 0 ? ((100 * l.hidden_persons) / l.persons).toLocaleString(lang, { maximumFractionDigits: 1 }) : '0';
      return [label, l.cells, l.primary + l.secondary + l.difference, `${l.hidden_persons} (${pct} %)`];
    });
    const changes = p.changes.map((c) => [c.measure, c.year, c.values_changed, c.newly_hidden, c.newly_shown, c.new_cells]);
    const lossTable = table(t('losshead'), loss);
    lossTable.id = 'preview-loss';
    const changeTable = table(t('changehead'), changes);
    changeTable.id = 'preview-changes';
    const inst = document.createElement('p');
    inst.className = 'inst-changed';
    inst.textContent = p.institutions_changed ? t('instchanged') : '';
    box.replaceChildren(lossTable, verdict, ...(p.same_as_latest ? [] : [changeTable]), inst);
    $('publish-form').hidden = p.same_as_latest || !p.audit.passed;
    await previewMapFor(p);
    $('publish-error').textContent = '';
  } catch (e) {
    box.replaceChildren();
    $('publish-error').textContent = e.message;
  }
  $('preview').disabled = false;
  hook.previews = (hook.previews || 0) + 1;
  await load();
});
// The map of what the previewed version would hide, per measure and year, at districts.
let previewMap = null;
async function previewMapFor(p) {
  await loadChoices();
  const opt = (value, text) => Object.assign(document.createElement('option'), { value, textContent: text });
  const measures = [['any_ops', t('alloops')], ['any_pup', t('allpup')],
    ...choices.vocabulary.map((c) => [c.code, lang === 'pl' ? c.label_pl : c.label_en])];
  $('pm-measure').replaceChildren(...measures.map(([c, l]) => opt(c, l)));
  $('pm-year').replaceChildren(...[...p.years].reverse().map((y) => opt(String(y), String(y))));
  const first = p.changes[0];
  if (first) { $('pm-measure').value = first.measure; $('pm-year').value = String(first.year); }
  $('preview-map-box').hidden = false;
  await drawPreview();
}
async function drawPreview() {
  const category = $('pm-measure').value;
  const year = $('pm-year').value;
  const d = await call('GET', `admin/api/preview/districts?category=${encodeURIComponent(category)}&year=${year}`);
  const by = Object.fromEntries(d.units.map((u) => [u.unit, u]));
  const data = { type: 'FeatureCollection', features: choices.districts.features.map((f) => {
    const u = by[f.properties.code];
    const st = !u ? 'none' : u.newly_hidden ? 'new' : u.hidden ? 'hidden' : 'shown';
    return { type: 'Feature', geometry: f.geometry, properties: { code: f.properties.code, st } };
  }) };
  const paint = { 'fill-color': ['match', ['get', 'st'], 'new', '#e8590c', 'hidden', '#9a9a9a', 'shown', '#cfe3f3', '#ffffff'] };
  if (!previewMap) {
    const bounds = new maplibregl.LngLatBounds();
    for (const f of choices.districts.features) for (const poly of f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates) for (const pt of poly[0]) bounds.extend(pt);
    previewMap = new maplibregl.Map({ container: 'preview-map', attributionControl: false, bounds, fitBoundsOptions: { padding: 10 }, interactive: true,
      style: { version: 8, sources: { p: { type: 'geojson', data } },
        layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#f4f4f0' } },
          { id: 'p-fill', type: 'fill', source: 'p', paint },
          { id: 'p-line', type: 'line', source: 'p', paint: { 'line-color': '#555', 'line-width': 0.7 } }] } });
    await new Promise((r) => previewMap.once('load', r));
  } else {
    previewMap.getSource('p').setData(data);
  }
  hook.previewMap = { category, year: Number(year), hidden: d.units.filter((u) => u.hidden).map((u) => u.unit).sort(),
    newlyHidden: d.units.filter((u) => u.newly_hidden).map((u) => u.unit).sort() };
  hook.previewMaps = (hook.previewMaps || 0) + 1;
}
for (const id of ['pm-measure', 'pm-year']) $(id).addEventListener('change', () => drawPreview().catch((e) => { $('publish-error').textContent = e.message; }));
$('publish-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const made = await call('POST', 'admin/api/publish', { comment: $('publish-comment').value.trim() });
    await served(made.number);
    $('publish-form').hidden = true;
    $('preview-map-box').hidden = true;
    $('preview-result').replaceChildren();
    $('publish-comment').value = '';
    $('publish-error').textContent = '';
  } catch (err) { $('publish-error').textContent = err.message; }
  await load();
});
// ---------- institutions: a form with a map to pick the position ----------
let editing = null; // the id edited, or null for a new institution
let picker = null;
let marker = null;
let choices = null; // { categories, districts } for the form's lists, loaded once

async function loadChoices() {
  if (choices) return choices;
  const [vocabulary, districts] = await Promise.all([fetch('api/v1/vocabulary').then((r) => r.json()),
    fetch('collections/districts/items?limit=10000').then((r) => r.json())]);
  choices = { vocabulary, districts };
  return choices;
}

function fillLists() {
  const { vocabulary, districts } = choices;
  const opt = (value, text) => Object.assign(document.createElement('option'), { value, textContent: text });
  $('i-sector').replaceChildren(...Object.entries(t('sectors')).map(([code, label]) => opt(code, label)));
  $('i-categories').replaceChildren(...vocabulary.map((c) => opt(c.code, `${lang === 'pl' ? c.label_pl : c.label_en} (${c.source})`)));
  $('i-area').replaceChildren(opt('*', t('wholecity')),
    ...districts.features.map((f) => opt(f.properties.code, `${f.properties.code} ${f.properties.name}`)));
}

function setPosition(lat, lon) {
  $('i-lat').value = lat.toFixed(6);
  $('i-lon').value = lon.toFixed(6);
  if (marker) marker.setLngLat([lon, lat]);
}

function showPicker() {
  const districts = choices.districts;
  const bounds = new maplibregl.LngLatBounds();
  for (const f of districts.features) for (const poly of f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates) for (const p of poly[0]) bounds.extend(p);
  if (!picker) {
    picker = new maplibregl.Map({ container: 'inst-map', attributionControl: false, bounds, fitBoundsOptions: { padding: 10 },
      style: { version: 8, sources: { d: { type: 'geojson', data: districts } },
        layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#f4f4f0' } },
          { id: 'd-fill', type: 'fill', source: 'd', paint: { 'fill-color': '#ffffff' } },
          { id: 'd-line', type: 'line', source: 'd', paint: { 'line-color': '#6a6a6a', 'line-width': 0.8 } }] } });
    marker = new maplibregl.Marker({ color: '#8a1c00', draggable: true });
    marker.on('dragend', () => { const p = marker.getLngLat(); setPosition(p.lat, p.lng); });
    picker.on('click', (e) => { setPosition(e.lngLat.lat, e.lngLat.lng); marker.addTo(picker); hook.picked = (hook.picked || 0) + 1; });
    picker.on('load', () => { hook.pickerReady = true; });
  } else {
    picker.resize();
  }
  const lat = parseFloat($('i-lat').value);
  const lon = parseFloat($('i-lon').value);
  if (Number.isFinite(lat) && Number.isFinite(lon)) marker.setLngLat([lon, lat]).addTo(picker); else marker.remove();
}

async function openForm(inst) {
  await loadChoices();
  fillLists();
  editing = inst ? inst.id : null;
  $('inst-form-title').textContent = inst ? T[lang].instedit(inst.id) : t('instadd');
  const v = (k) => (inst && inst[k]) || '';
  for (const [id, k] of [['i-name', 'name'], ['i-type', 'type'], ['i-address', 'address'], ['i-lat', 'lat'], ['i-lon', 'lon'], ['i-phone', 'phone'],
    ['i-email', 'email'], ['i-website', 'website'], ['i-hours', 'opening_hours'], ['i-places', 'places'], ['i-staff', 'staff'], ['i-description', 'description']]) $(id).value = v(k);
  $('i-sector').value = v('sector') || 'social_assistance';
  const chosen = (sel, list) => { for (const o of $(sel).options) o.selected = list.includes(o.value); };
  chosen('i-categories', v('categories').split(';'));
  chosen('i-area', v('area').split(';'));
  $('inst-form').hidden = false;
  $('inst-error').textContent = '';
  showPicker();
  $('i-name').focus();
}

$('inst-new').addEventListener('click', () => openForm(null));
// The address among the city's address points (as ingest geocodes records).
$('i-geocode').addEventListener('click', async () => {
  try {
    const p = await call('GET', `admin/api/geocode?address=${encodeURIComponent($('i-address').value)}`);
    setPosition(p.lat, p.lon);
    marker.addTo(picker);
    picker.easeTo({ center: [p.lon, p.lat], zoom: Math.max(picker.getZoom(), 13), duration: 0 });
    $('inst-error').textContent = '';
  } catch (e) { $('inst-error').textContent = e.message; }
  hook.geocoded = (hook.geocoded || 0) + 1;
});
$('inst-cancel').addEventListener('click', () => { $('inst-form').hidden = true; $('inst-error').textContent = ''; });
for (const id of ['i-lat', 'i-lon']) {
  $(id).addEventListener('change', () => {
    const lat = parseFloat($('i-lat').value);
    const lon = parseFloat($('i-lon').value);
    if (picker && Number.isFinite(lat) && Number.isFinite(lon)) marker.setLngLat([lon, lat]).addTo(picker);
  });
}
$('inst-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const selected = (sel) => [...$(sel).selectedOptions].map((o) => o.value);
  const area = selected('i-area');
  const body = { name: $('i-name').value, type: $('i-type').value, sector: $('i-sector').value, address: $('i-address').value,
    lat: $('i-lat').value, lon: $('i-lon').value, phone: $('i-phone').value, email: $('i-email').value, website: $('i-website').value,
    opening_hours: $('i-hours').value, categories: selected('i-categories'), area: area.includes('*') ? '*' : area, description: $('i-description').value };
  for (const [k, id] of [['places', 'i-places'], ['staff', 'i-staff']]) if (institutions.length === 0 || k in institutions[0]) body[k] = $(id).value;
  try {
    if (editing) await call('PUT', `admin/api/institutions/${encodeURIComponent(editing)}`, body);
    else await call('POST', 'admin/api/institutions', body);
    $('inst-form').hidden = true;
    $('inst-error').textContent = '';
  } catch (err) { $('inst-error').textContent = err.message; }
  await load();
  hook.saves = (hook.saves || 0) + 1;
});
$('inst-csv').addEventListener('click', async () => {
  const csv = await call('GET', 'admin/api/institutions?format=csv');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  a.download = 'institutions.csv';
  document.body.append(a);
  a.click();
  a.remove();
});
$('log-csv').addEventListener('click', async () => {
  const csv = await call('GET', 'admin/api/log?format=csv&limit=100000');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  a.download = 'kmapa-admin-log.csv';
  document.body.append(a);
  a.click();
  a.remove();
});
texts();
if (token) signIn(token).then(() => { hook.ready = true; }); else hook.ready = true;
