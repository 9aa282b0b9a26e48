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
  },
};
// The log's words (stored in English, as the API gives them) as the panel shows them.
const WORDS = { pl: { 'add user': 'dodanie użytkownika', 'revoke user': 'odebranie dostępu', done: 'wykonano', 'no such user': 'nie ma takiego użytkownika',
  'upload batch': 'wczytanie partii', 'withdraw batch': 'wycofanie partii', 'restore batch': 'przywrócenie partii' }, en: {} };
const word = (w) => WORDS[lang][w] || w;
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
  const [users, log, batches] = await Promise.all([call('GET', 'admin/api/users'), call('GET', 'admin/api/log?limit=200'),
    call('GET', 'admin/api/batches').catch(() => ({ batches: [] }))]);
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
