// kmapa web map: the published (protected) public tier, or the analyst tier after sign-in.
// Every number comes from the server's protected layers; nothing here computes a count.
// No request leaves the server the page came from: no basemap by default, no fonts, no CDN.
// URLs are relative, so the same files work under the live API and from a static export.
// An ES module: the pure parts (colour classes, hexagon sizes) are in classes.js.
import { KINDS as REVIT_KINDS, assess, assessmentCsv, checkArea, parseIndicatorCsv } from './revit.js';
import { BIVARIATE, HEX_KM2, density as perKm2, divergingThresholds, flaggedDistricts, labelPoint, roundTo, sequentialClasses } from './classes.js';

(function () {
  'use strict';

  const T = {
    pl: {
      title: 'Mapa problemów społecznych', moresettings: 'Więcej ustawień', lesssettings: 'Mniej ustawień', skip: 'Przejdź do ustawień mapy', category: 'Problem', year: 'Rok',
      compare: 'Porównaj z rokiem', nocompare: '– bez porównania –', measure: 'Miara', count: 'liczba osób',
      rate: 'na 1000 mieszkańców', layer: 'Podział', districts: 'osiedla', parents: 'obszary (dawne dzielnice)',
      hex: 'heksagony H3', hexunit: 'Heksagon ok. {area} km²', search: 'Szukaj osiedla', searchph: 'np. {example}', institutions: 'Instytucje',
      showinst: 'pokaż na mapie', insttype: 'Rodzaj', all: 'wszystkie', instserves: 'tylko pomagające w wybranym problemie',
      csv: 'Pobierz CSV', print: 'Drukuj raport', close: 'Zamknij', signin: 'Zaloguj (analityk)', signout: 'Wyloguj',
      signintitle: 'Logowanie do warstwy analitycznej',
      signinhelp: 'Token analityka otrzymasz od administratora mapy w swoim urzędzie. Token zostaje tylko w tej karcie przeglądarki.',
      token: 'Token', signinok: 'Zaloguj', cancel: 'Anuluj', badtoken: 'Nieprawidłowy token.',
      badrole: 'Ten token nie daje dostępu do warstwy analitycznej (potrzebna rola analityka).',
      noanalyst: 'Serwer działa bez warstwy analitycznej.',
      tierpublic: 'Warstwa publiczna', tieranalyst: 'Warstwa analityczna – wartości lekko zaburzone (CKM), nie do publikacji',
      hidden: 'ukryte dla ochrony prywatności', hiddenlegend: 'ukryte (ochrona prywatności)',
      hiddennote: (k) => `Ukrywamy liczby mniejsze niż ${k} osób oraz te, z których dałoby się je wyliczyć.`,
      counted: 'Liczone', countpersons: 'osoby', countfamilies: 'rodziny (gospodarstwa domowe)', families: 'rodz.', countfam: 'liczba rodzin',
      none: 'nikt', persons: 'os.', per1000: 'na 1000', perkm2: 'os. na km²', density: 'osoby na km² (heksagony różnej wielkości)', synthetic: 'DANE SYNTETYCZNE (demonstracyjne) – nie opisują prawdziwych osób.',
      attribution: 'Granice osiedli © współtwórcy OpenStreetMap (ODbL)', ops: 'OPS (pomoc społeczna)', pup: 'PUP (urząd pracy)',
      snapshot: 'migawka', policy: 'polityka', nodata: 'Brak danych dla tego wyboru.', change: 'zmiana',
      decrease: 'spadek', increase: 'wzrost', nochange: 'bez większej zmiany', more: 'o ponad', loaderror: 'Nie udało się wczytać danych',
      population: 'mieszkańców', city: 'miasto', district: 'osiedle', profilehidden: (n) => `Ukrytych wartości w profilu: ${n}.`,
      profilenote: 'Linia ciągła: osiedle, przerywana: całe miasto; kółka puste: lata z ukrytą wartością.',
      inststitle: 'Instytucje działające na osiedlu', wholecity: 'całe miasto', area: 'Obszar działania', serves: 'Pomaga w',
      hours: 'Godziny', phone: 'Telefon', email: 'E-mail', www: 'Strona', address: 'Adres', openprofile: 'Profil osiedla',
      profilepublic: 'Profil pokazuje zawsze warstwę publiczną.', nohex: 'Ten problem nie jest publikowany w heksagonach (za mało osób na heksagon) – pokazano osiedla.', hexnorate: 'Dla heksagonów w warstwie analitycznej – tylko liczba osób.',
      withheld: 'Ta odpowiedź jest wstrzymana w całości: w połączeniu z innymi odpowiedziami pozwoliłaby odtworzyć dokładną małą liczbę osób.',
      printnote: 'Źródło: kmapa', sector: {
        social_assistance: 'pomoc społeczna', labour_market: 'rynek pracy', police: 'policja', justice: 'wymiar sprawiedliwości',
        education: 'oświata', health: 'ochrona zdrowia', ngo: 'organizacja pozarządowa', housing: 'mieszkalnictwo' },
      lang: 'EN', langlabel: 'EN – English version',
      view: 'Widok', viewmap: 'mapa problemu', viewneeds: 'potrzeby a pomoc', needstitle: 'Potrzeby a pomoc',
      needaxis: 'potrzeba: na 1000 mieszkańców →', helpaxis: 'pomoc: najbliższa placówka coraz dalej →',
      needlow: 'mała', needhigh: 'duża', helpnear: 'blisko', helpfar: 'daleko / brak',
      notenough: 'za mało danych (wartość ukryta dla ochrony prywatności)', flagged: 'Duża potrzeba, słaba pomoc',
      noflagged: 'Żadne osiedle w tej klasie.', nearest: 'Najbliższa placówka', helping: 'Placówki pomagające na osiedlu',
      local: 'w tym działające lokalnie', places: 'miejsca', staff: 'kadra', nohelp: 'brak placówki pomagającej w tym problemie',
      method: 'Metoda', needsnote: 'Tylko wartości opublikowane (chronione) i plik instytucji; osiedle z wartością ukrytą nie jest szacowane.',
      kmfrom: 'km od środka osiedla',
      viewrevit: 'rewitalizacja', revittitle: 'Rewitalizacja: obszar zdegradowany i obszar rewitalizacji',
      revitintro: 'Wyznaczanie według ustawy o rewitalizacji (art. 9 i 10): osiedla w stanie kryzysowym – gorsze od miasta w co najmniej N wskaźnikach społecznych i, jeśli je podano, w co najmniej jednym innym (gospodarczym, środowiskowym, przestrzenno-funkcjonalnym, technicznym).',
      revitpicks: 'Wskaźniki społeczne z mapy (osoby na 1000 mieszkańców)', revitown: 'Własne wskaźniki (plik CSV)',
      revitownhelp: 'Kolumny: kod osiedla, potem po jednej kolumnie na wskaźnik; opcjonalnie wiersz „miasto” z wartością dla całego miasta (inaczej: średnia ważona liczbą mieszkańców). Separator przecinek lub średnik (Excel), przecinek dziesiętny dozwolony przy średniku.',
      revitn: 'Kryzys: gorzej niż miasto w co najmniej tylu wskaźnikach społecznych', kind_social: 'społeczny', kind_economic: 'gospodarczy',
      kind_environmental: 'środowiskowy', kind_spatial: 'przestrzenno-funkcjonalny', kind_technical: 'techniczny',
      higherworse: 'więcej = gorzej', lowerworse: 'mniej = gorzej', remove: 'Usuń', csverror: (e) => `wiersz ${e.line}, kolumna „${e.column}”, wartość „${e.value}”: ${e.message}`,
      degraded: 'obszar zdegradowany (propozycja)', notdegraded: 'poza obszarem zdegradowanym', undecided: 'nie da się rozstrzygnąć (wartość ukryta lub brak danych)',
      chosenarea: 'wybrany obszar rewitalizacji (obrys)', revitsummary: (n, km, pa, pop, pp) => `Obszar zdegradowany (propozycja): ${n} osiedli, ${km} km² (${pa} % miasta), ${pop} mieszkańców (${pp} %).`,
      revitundecided: (n) => `Nierozstrzygnięte: ${n} osiedli (wartości ukryte dla ochrony prywatności lub brak danych – nigdy nie szacujemy).`,
      revitnoother: 'Ustawa wymaga też co najmniej jednego zjawiska gospodarczego, środowiskowego, przestrzenno-funkcjonalnego lub technicznego: dodaj je z pliku CSV. Bez nich propozycja opiera się tylko na wskaźnikach społecznych.',
      revitarea: 'Obszar rewitalizacji', revitclick: 'Klikaj osiedla na mapie, aby je dodać lub usunąć.', revitall: 'Cały obszar zdegradowany', revitclear: 'Wyczyść',
      revitarealine: (km, p) => `Powierzchnia: ${km} km² = ${p} % gminy (limit 20 %)`, revitpopline: (n, p) => `Mieszkańcy: ${n} = ${p} % gminy (limit 30 %)`,
      withinlimit: 'w limicie', exceeds: (pp, x) => `przekracza o ${pp} pp (${x})`, revitoutside: (names) => `Poza obszarem zdegradowanym (ustawa na to nie pozwala): ${names}.`,
      revitnone: 'Nie wybrano jeszcze osiedli.', revittable: 'Tabela', worsecount: 'gorzej (społ.)', status: 'status', chosen: 'wybrane', yes: 'tak',
      revitmethod: 'Każdy wskaźnik porównany z wartością dla miasta (indeks = wartość osiedla / wartość miasta; „gorzej” zgodnie z kierunkiem wskaźnika). Wskaźniki z mapy to opublikowane, chronione wartości na 1000 mieszkańców; wartość miasta z warstwy miasta. Wartość ukryta nie jest szacowana: jeśli mogłaby zmienić wynik, osiedle jest „nierozstrzygnięte”. Limity z art. 10 ust. 2: najwyżej 20 % powierzchni gminy i 30 % jej mieszkańców (powierzchnia geodezyjna granic osiedli, mieszkańcy z wybranego roku).',
      residents: 'mieszk.',
      xlsx: 'Raport XLSX', cityreport: 'Raport miasta (XLSX)', reporttitle: 'Raport', locator: 'Położenie osiedla w mieście', rowname: 'Wyszczególnienie',
      persons2: 'Liczba osób', per1000h: 'Na 1000 mieszkańców', forecast: 'prognoza', cityrate: 'Miasto (na 1000)', residentsrow: 'Mieszkańcy',
      opsrows: 'Pomoc społeczna (OPS) – powody przyznania pomocy', puprows: 'Rynek pracy (PUP) – bezrobotni zarejestrowani', within: 'w tym',
    },
    en: {
      title: 'Map of social problems', moresettings: 'More settings', lesssettings: 'Fewer settings', skip: 'Skip to map settings', category: 'Problem', year: 'Year',
      compare: 'Compare with year', nocompare: '– no comparison –', measure: 'Measure', count: 'persons',
      rate: 'per 1,000 residents', layer: 'Areas', districts: 'districts', parents: 'areas (former boroughs)',
      hex: 'H3 hexagons', hexunit: 'Hexagon of about {area} km²', search: 'Find a district', searchph: 'e.g. {example}', institutions: 'Institutions',
      showinst: 'show on the map', insttype: 'Type', all: 'all', instserves: 'only those helping with the chosen problem',
      csv: 'Download CSV', print: 'Print report', close: 'Close', signin: 'Sign in (analyst)', signout: 'Sign out',
      signintitle: 'Sign in to the analyst tier',
      signinhelp: 'Analyst tokens are issued by the map administrator at your office. The token stays in this browser tab only.',
      token: 'Token', signinok: 'Sign in', cancel: 'Cancel', badtoken: 'Invalid token.',
      badrole: 'This token does not open the analyst tier (the analyst role is needed).',
      noanalyst: 'The server runs without the analyst tier.',
      tierpublic: 'Public tier', tieranalyst: 'Analyst tier – values slightly perturbed (CKM), not for publication',
      hidden: 'hidden to protect privacy', hiddenlegend: 'hidden (privacy protection)',
      hiddennote: (k) => `Numbers under ${k} people, and those they could be worked out from, are hidden.`,
      counted: 'Counted', countpersons: 'persons', countfamilies: 'families (households)', families: 'families', countfam: 'families',
      none: 'nobody', persons: 'people', per1000: 'per 1,000', perkm2: 'people per km²', density: 'people per km² (hexagons of different sizes)', synthetic: 'SYNTHETIC DATA (demonstration) – describes no real people.',
      attribution: 'District boundaries © OpenStreetMap contributors (ODbL)', ops: 'OPS (social assistance)', pup: 'PUP (labour office)',
      snapshot: 'snapshot', policy: 'policy', nodata: 'No data for this choice.', change: 'change',
      decrease: 'decrease', increase: 'increase', nochange: 'little change', more: 'by more than', loaderror: 'Could not load the data',
      population: 'residents', city: 'city', district: 'district', profilehidden: (n) => `Hidden values in this profile: ${n}.`,
      profilenote: 'Solid line: the district, dashed: the whole city; open circles: years with a hidden value.',
      inststitle: 'Institutions serving the district', wholecity: 'whole city', area: 'Area of operation', serves: 'Helps with',
      hours: 'Hours', phone: 'Phone', email: 'E-mail', www: 'Website', address: 'Address', openprofile: 'District profile',
      profilepublic: 'The profile always shows the public tier.', nohex: 'This problem is not published on hexagons (too few people per hexagon) – districts are shown.', hexnorate: 'Analyst hexagons: counts only.',
      withheld: 'This answer is withheld as a whole: together with other answers it would give away an exact small count of people.',
      printnote: 'Source: kmapa', sector: {
        social_assistance: 'social assistance', labour_market: 'labour market', police: 'police', justice: 'justice',
        education: 'education', health: 'health care', ngo: 'non-governmental organisation', housing: 'housing' },
      lang: 'PL', langlabel: 'PL – wersja polska',
      view: 'View', viewmap: 'problem map', viewneeds: 'needs against help', needstitle: 'Needs against help',
      needaxis: 'need: per 1,000 residents →', helpaxis: 'help: nearest institution farther away →',
      needlow: 'low', needhigh: 'high', helpnear: 'near', helpfar: 'far / none',
      notenough: 'not enough data (value hidden to protect privacy)', flagged: 'High need, thin help',
      noflagged: 'No district in this class.', nearest: 'Nearest institution', helping: 'Institutions helping in the district',
      local: 'of which local', places: 'places', staff: 'staff', nohelp: 'no institution helps with this problem here',
      method: 'Method', needsnote: 'Only published (protected) values and the institutions file; a district with a hidden value is not estimated.',
      kmfrom: "km from the district's centre",
      viewrevit: 'revitalisation', revittitle: 'Revitalisation: degraded area and revitalisation area',
      revitintro: 'Delineation under the Revitalisation Act (art. 9 and 10): districts in crisis – worse than the city on at least N social indicators and, if given, on at least one other (economic, environmental, spatial-functional, technical).',
      revitpicks: 'Social indicators from the map (persons per 1,000 residents)', revitown: 'Your own indicators (CSV file)',
      revitownhelp: 'Columns: the district code, then one column per indicator; optionally a row "city" with the whole city\'s value (otherwise: the mean weighted by residents). Comma or semicolon separated (Excel); decimal commas allowed with semicolons.',
      revitn: 'Crisis: worse than the city on at least this many social indicators', kind_social: 'social', kind_economic: 'economic',
      kind_environmental: 'environmental', kind_spatial: 'spatial-functional', kind_technical: 'technical',
      higherworse: 'more = worse', lowerworse: 'less = worse', remove: 'Remove', csverror: (e) => `line ${e.line}, column "${e.column}", value "${e.value}": ${e.message}`,
      degraded: 'degraded area (proposal)', notdegraded: 'outside the degraded area', undecided: 'cannot be decided (value hidden or no data)',
      chosenarea: 'chosen revitalisation area (outline)', revitsummary: (n, km, pa, pop, pp) => `Degraded area (proposal): ${n} districts, ${km} km² (${pa} % of the city), ${pop} residents (${pp} %).`,
      revitundecided: (n) => `Undecided: ${n} districts (values hidden to protect privacy or no data – never estimated).`,
      revitnoother: 'The Act also requires at least one economic, environmental, spatial-functional or technical phenomenon: add them from a CSV file. Without them the proposal rests on social indicators only.',
      revitarea: 'Revitalisation area', revitclick: 'Click districts on the map to add or remove them.', revitall: 'The whole degraded area', revitclear: 'Clear',
      revitarealine: (km, p) => `Area: ${km} km² = ${p} % of the gmina (limit 20 %)`, revitpopline: (n, p) => `Residents: ${n} = ${p} % of the gmina (limit 30 %)`,
      withinlimit: 'within the limit', exceeds: (pp, x) => `exceeds it by ${pp} pp (${x})`, revitoutside: (names) => `Outside the degraded area (the Act does not allow it): ${names}.`,
      revitnone: 'No district chosen yet.', revittable: 'Table', worsecount: 'worse (social)', status: 'status', chosen: 'chosen', yes: 'yes',
      revitmethod: 'Each indicator is compared with the city value (index = district value / city value; "worse" by the indicator\'s direction). Indicators from the map are published, protected values per 1,000 residents; the city value from the city layer. A hidden value is never estimated: where it could change the outcome, the district is "undecided". Limits of art. 10(2): at most 20 % of the gmina\'s area and 30 % of its residents (geodesic area of the district boundaries, residents of the chosen year).',
      residents: 'residents',
      xlsx: 'XLSX report', cityreport: 'City report (XLSX)', reporttitle: 'Report', locator: 'Where the district lies in the city', rowname: 'Item',
      persons2: 'Persons', per1000h: 'Per 1,000 residents', forecast: 'forecast', cityrate: 'City (per 1,000)', residentsrow: 'Residents',
      opsrows: 'Social assistance (OPS) – reasons for help', puprows: 'Labour market (PUP) – registered unemployed', within: 'of which',
    },
  };
  const KINDS = {
    pl: { addiction_clinic: 'poradnia uzależnień', counselling_centre: 'poradnia', crisis_centre: 'ośrodek interwencji kryzysowej',
      day_care_home: 'dzienny dom pomocy', disability_board: 'zespół ds. orzekania o niepełnosprawności',
      family_support_centre: 'centrum wspierania rodzin', food_bank: 'bank żywności', housing_office: 'biuro ds. mieszkań',
      integration_centre: 'centrum integracji', job_club: 'klub pracy', labour_office: 'powiatowy urząd pracy',
      labour_office_branch: 'filia urzędu pracy', legal_aid_point: 'punkt nieodpłatnej pomocy prawnej',
      mental_health_centre: 'centrum zdrowia psychicznego', ngo: 'organizacja pozarządowa', ops_branch: 'filia OPS',
      ops_headquarters: 'ośrodek pomocy społecznej (siedziba)', police_station: 'komisariat policji',
      probation_team: 'zespół kuratorski', shelter: 'schronisko / noclegownia', social_integration_centre: 'centrum integracji społecznej',
      soup_kitchen: 'jadłodajnia', special_school_centre: 'specjalny ośrodek szkolno-wychowawczy',
      supported_housing: 'mieszkanie wspomagane', youth_career_centre: 'młodzieżowe centrum kariery' },
    en: { addiction_clinic: 'addiction clinic', counselling_centre: 'counselling centre', crisis_centre: 'crisis intervention centre',
      day_care_home: 'day care home', disability_board: 'disability assessment board', family_support_centre: 'family support centre',
      food_bank: 'food bank', housing_office: 'housing office', integration_centre: 'integration centre', job_club: 'job club',
      labour_office: 'labour office', labour_office_branch: 'labour office branch', legal_aid_point: 'free legal aid point',
      mental_health_centre: 'mental health centre', ngo: 'non-governmental organisation', ops_branch: 'social assistance branch',
      ops_headquarters: 'social assistance centre (head office)', police_station: 'police station', probation_team: 'probation team',
      shelter: 'shelter', social_integration_centre: 'social integration centre', soup_kitchen: 'soup kitchen',
      special_school_centre: 'special school centre', supported_housing: 'supported housing', youth_career_centre: 'youth career centre' },
  };
  const SEQ = ['#fde0c5', '#facba6', '#f59e72', '#e8603c', '#b3261e'];
  const DIV = ['#2166ac', '#92c5de', '#f4f4f4', '#f4a582', '#b2182b'];
  const ZERO = '#ffffff';
  const HIDDEN = '#cfcfcf';
  const SECTOR_COLORS = { social_assistance: '#00507a', labour_market: '#5b2a86', police: '#1d1d1d', justice: '#6b4e16',
    education: '#1b7837', health: '#b2182b', ngo: '#e66101', housing: '#4d4d4d' };

  const q = new URLSearchParams(location.search);
  const state = {
    lang: q.get('lang') === 'en' ? 'en' : 'pl',
    category: q.get('category') || 'any_ops',
    year: q.get('year') || '',
    compare: q.get('compare') || '',
    measure: q.get('measure') === 'rate_per_1000' ? 'rate_per_1000' : 'value',
    counted: q.get('counted') === 'households' ? 'households' : 'persons',
    layer: ['districts', 'parents', 'hex'].includes(q.get('layer')) ? q.get('layer') : 'districts',
    district: q.get('district') || '',
    inst: q.get('inst') === '1',
    instType: q.get('inst_type') || '',
    instServes: q.get('inst_serves') === '1',
    at: q.get('at') || '',
    view: ['needs', 'revit'].includes(q.get('view')) ? q.get('view') : 'map',
  };
  let token = sessionStorage.getItem('kmapa-token') || '';
  let tier = 'public';
  let analystLayers = [];
  let config = { mode: 'api' };
  let snapshot = null;
  let vocabulary = [];
  let boundaries = null; // districts FeatureCollection (names, parents, population)
  let institutions = [];
  let shown = []; // features on the map now, with v (shown value) and hid (hidden)
  let withheld = false; // the analyst answer on the map is withheld as a whole
  let loadSeq = 0;
  const t = (k) => T[state.lang][k];
  const $ = (id) => document.getElementById(id);
  // For the browser tests and the curious: what is drawn, and when it is ready.
  const hook = (window.kmapa = { state, renders: 0, errors: [], ready: false,
    shown: () => shown.map((f) => ({ unit: f.properties.unit, v: f.properties.v, hid: f.properties.hid, status: f.properties.src.status })),
    layer: () => shownLayer,
    needs: () => shown.map((f) => ({ unit: f.properties.unit, cls: f.properties.cls, hid: f.properties.hid })),
    revit: () => revit.result && { rows: revit.result.rows.map((r) => ({ code: r.code, status: r.status, socialWorse: r.socialWorse })),
      indicators: revit.result.indicators.map((i) => ({ id: i.id, city: i.city, kind: i.kind, higherIsWorse: i.higherIsWorse })), selected: [...revit.selected], check: revit.check, errors: revit.ownErrors } });

  // ---------- data access: the live API or a static export ----------
  async function getJSON(url, headers) {
    const r = await fetch(url, { headers: headers || {} });
    if (!r.ok) {
      let detail = '';
      try { detail = (await r.json()).detail || ''; } catch (_) { /* not JSON */ }
      const e = new Error(`${url}: ${r.status} ${detail}`);
      e.status = r.status;
      throw e;
    }
    return r.json();
  }
  const isStatic = () => config.mode === 'static';
  const api = {
    snapshot: () => isStatic() ? getJSON('index.json').then((s) => Object.assign({ number: s.snapshot }, s)) : getJSON('api/v1/snapshot'),
    vocabulary: () => getJSON(isStatic() ? 'vocabulary.json' : 'api/v1/vocabulary'),
    boundaries: () => getJSON(isStatic() ? 'districts.geojson' : 'collections/districts/items?limit=10000'),
    institutions: () => getJSON(isStatic() ? 'institutions.geojson' : 'collections/institutions/items?limit=10000'),
    layer: (layer, category, year) => tier === 'analyst'
      ? getJSON(`analyst/layers/${layer.replace('-', '_')}/items?category=${encodeURIComponent(category)}&year=${year}`, { Authorization: 'Bearer ' + token })
      : getJSON(isStatic()
        ? `problems/${layer}/${encodeURIComponent(category)}/${year}${families() ? '.households' : ''}.geojson`
        : `collections/problems-${layer}/items?category=${encodeURIComponent(category)}&year=${year}&limit=10000${families() ? '&counted=households' : ''}`),
    profile: (code) => getJSON(isStatic() ? `profiles/${encodeURIComponent(code)}.json` : `api/v1/districts/${encodeURIComponent(code)}/profile`),
    analystLayers: (tok) => getJSON('analyst/layers', { Authorization: 'Bearer ' + tok }),
    report: (code, year) => getJSON(isStatic() ? `reports/${encodeURIComponent(code)}/${year}.json` : `api/v1/reports/${encodeURIComponent(code)}?year=${year}`),
    reportXlsx: (code, year) => (isStatic() ? `reports/${encodeURIComponent(code)}/${year}.xlsx` : `api/v1/reports/${encodeURIComponent(code)}.xlsx?year=${year}`),
    // Needs against help: the public tier only, whoever is signed in.
    needs: (category, year) => getJSON(isStatic() ? `needs/${encodeURIComponent(category)}/${year}.json`
      : `api/v1/needs?category=${encodeURIComponent(category)}&year=${year}`),
    publicDistricts: (category, year) => getJSON(isStatic() ? `problems/districts/${encodeURIComponent(category)}/${year}.geojson`
      : `collections/problems-districts/items?category=${encodeURIComponent(category)}&year=${year}&limit=10000`),
  };

  // ---------- formatting ----------
  const locale = () => (state.lang === 'en' ? 'en-GB' : 'pl-PL');
  const num = (x, d) => Number(x).toLocaleString(locale(), { maximumFractionDigits: d === undefined ? 0 : d });
  const fmt = (x) => (state.measure === 'rate_per_1000' || density(shownLayer) ? num(x, 1) : num(x));
  const label = (c) => (c ? (state.lang === 'en' ? c.label_en : c.label_pl) : '');
  const category = (code) => vocabulary.find((c) => c.code === code);
  const hexName = (p) => t('hexunit').replace('{area}', num(HEX_KM2[p.resolution], HEX_KM2[p.resolution] < 1 ? 2 : 1));
  const unitName = (p) => p.name || (boundaries && boundaries.byCode[p.unit] && boundaries.byCode[p.unit].name)
    || (HEX_KM2[p.resolution] ? hexName(p) : p.unit);
  const statusText = (p) => (state.lang === 'en' ? p.status_en : p.status_pl) || t('hidden');
  const isHidden = (p) => p.status === 'hidden' || p.value === null || p.value === undefined;
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // ---------- the map ----------
  function hatch() {
    const s = 12;
    const data = new Uint8Array(s * s * 4);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const on = (x + y) % 6 < 2;
        const i = (y * s + x) * 4;
        data[i] = on ? 120 : 236; data[i + 1] = on ? 120 : 236; data[i + 2] = on ? 120 : 236; data[i + 3] = 235;
      }
    }
    return { width: s, height: s, data };
  }
  let map;
  function makeMap() {
    const style = config.basemap_style || {
      version: 8, sources: {},
      layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef2f3' } }],
    };
    const at = state.at.split(',').map(Number);
    // A shared view, or the whole city whatever the screen size. (Fitting after the
    // first data arrived left MapLibre's query index of the refitted tiles empty, so
    // hover and click found nothing: the city's box comes with the snapshot instead.)
    const b = snapshot.bbox;
    const view = at.length === 3 && at.every(Number.isFinite) ? { center: [at[0], at[1]], zoom: at[2] }
      : b ? { bounds: [[b[0], b[1]], [b[2], b[3]]], fitBoundsOptions: { padding: 16 } } : { center: [17.03, 51.11], zoom: 10.2 };
    map = new maplibregl.Map(Object.assign({ container: 'map', style, attributionControl: false, maxZoom: 16, minZoom: 8 }, view));
    hook.map = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
    return new Promise((resolve) => map.on('load', () => {
      map.addImage('hatch', hatch());
      const empty = { type: 'FeatureCollection', features: [] };
      map.addSource('units', { type: 'geojson', data: empty });
      map.addSource('inst', { type: 'geojson', data: empty });
      map.addSource('district-outlines', { type: 'geojson', data: empty });
      map.addLayer({ id: 'units-fill', type: 'fill', source: 'units', paint: { 'fill-color': ZERO, 'fill-opacity': 0.88 } });
      map.addLayer({ id: 'units-hidden', type: 'fill', source: 'units', filter: ['==', ['get', 'hid'], true], paint: { 'fill-pattern': 'hatch', 'fill-opacity': 0.9 } });
      map.addLayer({ id: 'units-line', type: 'line', source: 'units', paint: { 'line-color': '#5c5c5c', 'line-width': ['interpolate', ['linear'], ['zoom'], 9, 0.4, 14, 1.2] } });
      // Over hexagons, the districts' boundaries, so hexagons do not float without context.
      map.addLayer({ id: 'district-lines', type: 'line', source: 'district-outlines', layout: { visibility: 'none' },
        paint: { 'line-color': '#1f3b57', 'line-width': ['interpolate', ['linear'], ['zoom'], 9, 0.8, 14, 2], 'line-opacity': 0.7 } });
      map.addLayer({ id: 'units-selected', type: 'line', source: 'units', filter: ['==', ['get', 'unit'], ''], paint: { 'line-color': '#00507a', 'line-width': 3.5 } });
      map.addLayer({ id: 'inst-points', type: 'circle', source: 'inst', paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, 4, 14, 8], 'circle-color': ['get', 'color'],
        'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
      map.on('mousemove', 'units-fill', (e) => tooltip(e));
      map.on('mouseleave', 'units-fill', () => { $('tooltip').hidden = true; map.getCanvas().style.cursor = ''; });
      map.on('click', (e) => click(e));
      map.on('mouseenter', 'inst-points', () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('moveend', () => {
        const c = map.getCenter();
        state.at = `${c.lng.toFixed(4)},${c.lat.toFixed(4)},${map.getZoom().toFixed(2)}`;
        pushState();
      });
      map.on('zoomend', () => { if (state.layer === 'hex' && hexLayer() !== shownLayer) render(); });
      resolve();
    }));
  }

  // ---------- layers and values ----------
  let shownLayer = '';
  function hexResolutions() {
    const names = tier === 'analyst' ? analystLayers.map((l) => l.replace('_', '-')) : (snapshot.layers || []);
    return names.filter((l) => /^h3-\d+$/.test(l)).map((l) => Number(l.slice(3))).sort((a, b) => a - b);
  }
  // The public tier's adaptive hexagon layer (`h3`): one layer at every zoom, each
  // hexagon at the finest resolution at which it is safe.
  const adaptiveHex = () => tier !== 'analyst' && (snapshot.layers || []).includes('h3');
  const hasHexagons = () => adaptiveHex() || hexResolutions().length > 0;
  function hexLayer() {
    if (adaptiveHex()) return 'h3';
    const res = hexResolutions();
    if (res.length === 0) return 'districts';
    // A hexagon should be a few dozen pixels across: res 7 at city zoom, finer as one zooms in.
    const want = Math.round(map.getZoom() - 3.2);
    let best = res[0];
    for (const r of res) if (r <= want) best = r;
    return 'h3-' + best;
  }
  // The public tier may publish only some measures on hexagons; the others show districts.
  const hexFallback = () => state.layer === 'hex' && tier === 'public' && snapshot.hexagon_measures
    && !snapshot.hexagon_measures.includes(state.category);
  // Families (households) where the public tier publishes them: the measure's
  // vocabulary entry says so, at districts and parent areas.
  const familiesOffered = () => tier === 'public' && state.view === 'map'
    && ['districts', 'parents'].includes(state.layer)
    && ((category(state.category) || {}).counted || []).includes('households');
  const families = () => state.counted === 'households' && familiesOffered();
  function currentLayer() {
    if (state.view !== 'map' || hexFallback()) return 'districts';
    return state.layer === 'hex' ? hexLayer() : state.layer;
  }
  function populationOf(unit, layer, year) {
    if (!boundaries) return null;
    const pop = (f) => (f.properties.population || {})[year];
    if (layer === 'districts') { const f = boundaries.byCode[unit]; return f ? pop(f) : null; }
    if (layer === 'parents') {
      const fs = boundaries.features.filter((f) => f.properties.parent === unit);
      return fs.length ? fs.reduce((s, f) => s + (pop(f) || 0), 0) : null;
    }
    return null;
  }
  // Hexagons of mixed sizes (the adaptive layer) are coloured by persons per km²: a
  // large hexagon holds more people for its size alone.
  const density = (layer) => layer === 'h3' && state.measure === 'value';
  function measureOf(p, layer, year) {
    if (isHidden(p)) return null;
    if (density(layer) && HEX_KM2[p.resolution]) return perKm2(p.value, p.resolution);
    if (state.measure === 'value') return p.value;
    // Rates are classed as shown (one decimal), so no two classes show the same bound.
    if (p.rate_per_1000 !== undefined) return p.rate_per_1000 === null ? null : roundTo(p.rate_per_1000, 1);
    const pop = populationOf(p.unit, layer, year);
    return pop ? roundTo((p.value / pop) * 1000, 1) : null;
  }

  // The persons/families switch: families only where published.
  function syncCounted() {
    $('counted').value = families() ? 'households' : 'persons';
    $('counted').disabled = !familiesOffered();
  }
  async function render() {
    syncCounted();
    $('revit').hidden = state.view !== 'revit';
    document.body.dataset.view = state.view;
    if (state.view === 'needs') return renderNeeds();
    if (state.view === 'revit') return renderRevit();
    const seq = ++loadSeq;
    const layer = currentLayer();
    const year = state.year;
    const cmp = state.compare && state.compare !== state.year ? state.compare : '';
    let fc, before;
    try {
      [fc, before] = await Promise.all([
        api.layer(layer, state.category, year),
        cmp ? api.layer(layer, state.category, cmp) : Promise.resolve(null),
      ]);
    } catch (e) {
      if (seq === loadSeq) showError(e);
      return;
    }
    if (seq !== loadSeq) return; // a newer choice has been made meanwhile
    withheld = Boolean(fc.withheld || (before && before.withheld));
    const prev = new Map();
    if (before) for (const f of before.features) prev.set(f.properties.unit, f.properties);
    shown = fc.features.map((f, i) => {
      const p = f.properties;
      let v = measureOf(p, layer, year);
      let hid = v === null;
      if (cmp) {
        const b = prev.get(p.unit);
        const old = b ? measureOf(b, layer, cmp) : null;
        if (old === null) hid = true; else if (!hid) v = Math.round((v - old) * 100) / 100;
      }
      return { type: 'Feature', geometry: f.geometry, properties: { i, unit: p.unit, v: hid ? null : v, hid, src: p, old: cmp ? prev.get(p.unit) || null : null } };
    });
    // The map gets only what it draws with (the rest stays here, looked up by `i`).
    const drawnFeatures = shown.map((f) => ({ type: 'Feature', geometry: f.geometry,
      properties: { i: f.properties.i, unit: f.properties.unit, v: f.properties.v, hid: f.properties.hid } }));
    shownLayer = layer;
    showDistrictLines();
    if (hook.toggleLabels) hook.toggleLabels();
    const data = { type: 'FeatureCollection', features: drawnFeatures };
    map.getSource('units').setData(data);
    const values = shown.filter((f) => !f.properties.hid).map((f) => f.properties.v);
    const classes = cmp ? diverging(values) : sequential(values);
    map.setPaintProperty('units-fill', 'fill-color', classes.expression);
    map.setFilter('units-selected', ['==', ['get', 'unit'], state.layer === 'districts' ? state.district : '']);
    legend(classes, cmp, fc.features.length === 0);
    renderInstitutions();
    pushState();
    map.once('idle', () => {
      hook.renders += 1;
      if (!hook.ready) {
        hook.ready = true;
        performance.mark('kmapa-interactive');
      }
    });
  }

  // ---------- needs against help ----------
  let needsDoc = null;
  async function renderNeeds() {
    const seq = ++loadSeq;
    let fc, doc;
    try {
      [fc, doc] = await Promise.all([api.publicDistricts(state.category, state.year), api.needs(state.category, state.year)]);
    } catch (e) {
      if (seq === loadSeq) showError(e);
      return;
    }
    if (seq !== loadSeq) return;
    needsDoc = doc;
    withheld = false;
    const byCode = new Map(doc.districts.map((d) => [d.code, d]));
    shown = fc.features.filter((f) => byCode.has(f.properties.unit)).map((f, i) => {
      const d = byCode.get(f.properties.unit);
      return { type: 'Feature', geometry: f.geometry, properties: { i, unit: d.code, v: null, hid: d.class === null, cls: d.class, src: f.properties, need: d } };
    });
    shownLayer = 'districts';
    showDistrictLines();
    if (hook.toggleLabels) hook.toggleLabels();
    map.getSource('units').setData({ type: 'FeatureCollection', features: shown.map((f) => ({ type: 'Feature', geometry: f.geometry,
      properties: { i: f.properties.i, unit: f.properties.unit, hid: f.properties.hid, cls: f.properties.cls || '' } })) });
    map.setPaintProperty('units-fill', 'fill-color', ['case', ['==', ['get', 'hid'], true], HIDDEN,
      ['match', ['get', 'cls'], ...Object.entries(BIVARIATE).flat(), HIDDEN]]);
    map.setFilter('units-selected', ['==', ['get', 'unit'], state.district]);
    needsLegend(doc);
    renderInstitutions();
    pushState();
    map.once('idle', () => {
      hook.renders += 1;
      if (!hook.ready) { hook.ready = true; performance.mark('kmapa-interactive'); }
    });
  }
  function needsLegend(doc) {
    const box = $('legend');
    box.replaceChildren();
    box.classList.add('needs');
    const c = category(state.category);
    box.append(el('strong', { text: `${t('needstitle')}: ${label(c) || state.category}, ${state.year}` }));
    // The 3 × 3 key: need grows to the right, help thins upwards.
    const grid = el('div', { class: 'bivar', role: 'img', 'aria-label': `${t('needaxis')} ${t('helpaxis')}` });
    for (let h = 3; h >= 1; h--) {
      for (let n = 1; n <= 3; n++) {
        const key = `${n}-${h}`;
        grid.append(el('span', { class: 'cell', 'data-class': key, style: `background:${BIVARIATE[key]}`,
          title: `${t('needaxis')} ${n}/3 · ${t('helpaxis')} ${h}/3` }));
      }
    }
    box.append(el('div', { class: 'bivar-key' },
      el('span', { class: 'axis-y', text: t('helpaxis') }), grid,
      el('span', { class: 'axis-x', text: t('needaxis') })));
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch hatched' }), el('span', { text: t('notenough') })));
    const flagged = flaggedDistricts(doc);
    box.append(el('strong', { class: 'flagged-title', text: `${t('flagged')} (${flagged.length})` }));
    if (!flagged.length) box.append(el('div', { class: 'note', text: t('noflagged') }));
    const ol = el('ol', { class: 'flagged' });
    for (const f of flagged) {
      const b = el('button', { type: 'button', class: 'linklike', 'data-code': f.code,
        text: `${f.name} – ${num(f.rate, 1)} ${t('per1000')} · ${f.km === null ? t('nohelp') : `${num(f.km, 1)} km`}` });
      b.addEventListener('click', () => openProfile(f.code));
      ol.append(el('li', {}, b));
    }
    box.append(ol);
    box.append(el('div', { class: 'note', text: t('needsnote') }));
    box.append(el('details', {}, el('summary', { text: t('method') }),
      el('p', { class: 'note', text: state.lang === 'en' ? doc.method_en : doc.method_pl })));
    instLegend();
  }
  function describeNeeds(d) {
    const parts = [];
    if (d.value === null) parts.push(el('div', { class: 'hidden-note', text: `${state.lang === 'en' ? d.status_en : d.status_pl} – ${t('notenough')}` }));
    else parts.push(el('div', { text: `${num(d.rate_per_1000, 1)} ${t('per1000')} (${num(d.value)} ${t('persons')})` }));
    parts.push(el('div', { text: `${t('helping')}: ${d.institutions}${d.local_institutions ? ` (${t('local')}: ${d.local_institutions})` : ''}` }));
    const cap = [d.places !== null && d.places !== undefined ? `${t('places')}: ${num(d.places)}` : '',
      d.staff !== null && d.staff !== undefined ? `${t('staff')}: ${num(d.staff)}` : ''].filter(Boolean).join(' · ');
    if (cap) parts.push(el('div', { text: cap }));
    parts.push(el('div', { text: d.nearest ? `${t('nearest')}: ${d.nearest.name}, ${num(d.nearest.km, 1)} ${t('kmfrom')}` : t('nohelp') }));
    return parts;
  }

  // ---------- revitalisation ----------
  const revit = { chosen: (q.get('ri') || '').split(',').filter(Boolean), n: Math.max(1, Number(q.get('rn')) || 2),
    selected: (q.get('rs') || '').split(',').filter(Boolean), own: [], ownErrors: [], result: null, check: null };
  let boundariesPromise = null;
  function getBoundaries() {
    boundariesPromise = boundariesPromise || api.boundaries().then((b) => {
      boundaries = b;
      boundaries.byCode = {};
      for (const f of b.features) boundaries.byCode[f.properties.code] = f.properties;
      return b;
    });
    return boundariesPromise;
  }
  let cityProfilePromise = null;
  // The city's values of every category and year come with any district's profile.
  const cityProfile = (code) => (cityProfilePromise = cityProfilePromise || api.profile(code));
  const REVIT_COLORS = { degraded: '#c85a5a', not: '#f3f3f3' };
  async function renderRevit() {
    const seq = ++loadSeq;
    const year = state.year;
    if (!revit.chosen.length) revit.chosen = ['poverty', 'unemployment'].filter((c) => category(c));
    const codes = revit.chosen.filter((c) => category(c));
    let b, layers, prof;
    try {
      b = await getBoundaries();
      [layers, prof] = await Promise.all([Promise.all(codes.map((c) => api.publicDistricts(c, year))), cityProfile(b.features[0].properties.code)]);
    } catch (e) {
      if (seq === loadSeq) showError(e);
      return;
    }
    if (seq !== loadSeq) return;
    const districts = b.features.map((f) => ({ code: f.properties.code, name: f.properties.name,
      population: (f.properties.population || {})[year] || 0, area_km2: f.properties.area_km2 }));
    const indicators = codes.map((c, k) => {
      const values = {};
      for (const f of layers[k].features) {
        const p = f.properties;
        if (p.group && p.group !== 'all') continue;
        values[p.unit] = isHidden(p) || p.rate_per_1000 === null || p.rate_per_1000 === undefined ? null : p.rate_per_1000;
      }
      const cat = (prof.categories || []).find((x) => x.code === c);
      const cityCell = cat && (cat.city || []).find((x) => String(x.year) === String(year));
      const city = cityCell && !isHidden(cityCell) && cityCell.rate_per_1000 !== null ? cityCell.rate_per_1000 : null;
      return { id: c, label: label(category(c)), kind: 'social', higherIsWorse: true, values, city };
    });
    const own = revit.own.map((o, k) => ({ id: `own${k + 1}`, label: o.name, kind: o.kind, higherIsWorse: o.higherIsWorse, values: o.values, city: o.city }));
    revit.result = assess(districts, [...indicators, ...own], revit.n);
    const degraded = revit.result.rows.filter((r) => r.status === 'degraded').map((r) => r.code);
    revit.selected = revit.selected.filter((c) => boundaries.byCode[c]);
    revit.check = checkArea(revit.selected, districts, degraded);
    const byCode = new Map(revit.result.rows.map((r) => [r.code, r]));
    shown = b.features.map((f, i) => {
      const r = byCode.get(f.properties.code);
      return { type: 'Feature', geometry: f.geometry, properties: { i, unit: r.code, v: null, hid: r.status === 'undecided', cls: r.status, src: { unit: r.code, name: r.name, status: r.status }, revit: r } };
    });
    shownLayer = 'districts';
    showDistrictLines();
    if (hook.toggleLabels) hook.toggleLabels();
    map.getSource('units').setData({ type: 'FeatureCollection', features: shown.map((f) => ({ type: 'Feature', geometry: f.geometry,
      properties: { i: f.properties.i, unit: f.properties.unit, hid: f.properties.hid, cls: f.properties.cls } })) });
    map.setPaintProperty('units-fill', 'fill-color', ['case', ['==', ['get', 'hid'], true], HIDDEN,
      ['match', ['get', 'cls'], 'degraded', REVIT_COLORS.degraded, REVIT_COLORS.not]]);
    map.setFilter('units-selected', ['in', ['get', 'unit'], ['literal', revit.selected]]);
    // The panel covers the map's right side (on a phone, its lower part): the city goes
    // beside (above) it, once.
    if (!revit.fitted && snapshot.bbox) {
      revit.fitted = true;
      const bb = snapshot.bbox;
      const phone = window.innerWidth < 700;
      const panel = $('revit').getBoundingClientRect();
      const mapBox = map.getContainer().getBoundingClientRect();
      const padding = phone
        ? { top: 8, left: 8, right: 8, bottom: Math.max(8, Math.min(mapBox.height - 80, mapBox.bottom - panel.top + 8)) }
        : { top: 16, bottom: 16, left: 16, right: Math.min(520, window.innerWidth * 0.45) };
      map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding, duration: 0 });
    }
    revitLegend();
    renderRevitPanel();
    renderInstitutions();
    pushState();
    map.once('idle', () => {
      hook.renders += 1;
      if (!hook.ready) { hook.ready = true; performance.mark('kmapa-interactive'); }
    });
  }
  const pct = (x) => num(x * 100, 1);
  function revitLegend() {
    const box = $('legend');
    box.replaceChildren();
    box.classList.remove('needs');
    box.append(el('strong', { text: `${t('viewrevit').replace(/^./, (c) => c.toUpperCase())}, ${state.year}` }));
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch', style: `background:${REVIT_COLORS.degraded}` }), el('span', { text: t('degraded') })));
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch', style: `background:${REVIT_COLORS.not}` }), el('span', { text: t('notdegraded') })));
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch hatched' }), el('span', { text: t('undecided') })));
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch', style: 'background:#fff;border:3px solid #00507a' }), el('span', { text: t('chosenarea') })));
    instLegend();
  }
  function describeRevit(r) {
    const parts = [el('div', { text: r.status === 'degraded' ? t('degraded') : r.status === 'undecided' ? t('undecided') : t('notdegraded') })];
    parts.push(el('div', { text: `${t('worsecount')}: ${r.socialWorse}${r.socialUnknown ? ` (+${r.socialUnknown} ?)` : ''}` }));
    if (revit.selected.includes(r.code)) parts.push(el('div', { text: t('chosenarea') }));
    return parts;
  }
  function toggleRevit(code) {
    revit.selected = revit.selected.includes(code) ? revit.selected.filter((c) => c !== code) : [...revit.selected, code];
    render();
  }
  async function loadOwnCsv(file) {
    const text = await file.text();
    const { indicators, errors } = parseIndicatorCsv(text, boundaries ? Object.keys(boundaries.byCode) : []);
    revit.ownErrors = errors;
    if (!errors.length) revit.own = revit.own.concat(indicators.map((i) => ({ ...i, kind: 'social', higherIsWorse: true })));
    render();
  }
  function renderRevitPanel() {
    const body = $('revit-body');
    const res = revit.result;
    body.replaceChildren();
    body.append(el('p', { class: 'meta', text: `${t('revitintro')} ${t('year')} ${state.year}; ${t('snapshot')} ${snapshot.number}.` }));
    // On a phone the map's legend would cover most of the small map above the panel:
    // the same key goes here instead (CSS shows one or the other).
    body.append(el('div', { class: 'revit-key' },
      ...[[REVIT_COLORS.degraded, t('degraded')], [REVIT_COLORS.not, t('notdegraded')], [null, t('undecided')]].map(([c, txt]) =>
        el('span', {}, el('i', { class: c ? 'swatch' : 'swatch hatched', style: c ? `background:${c}` : null }), txt))));
    if (snapshot.synthetic) body.append(el('p', { class: 'meta', text: t('synthetic') }));
    // Indicators from the map.
    body.append(el('h3', { text: t('revitpicks') }));
    const picks = el('div', { class: 'picks' });
    const year = Number(state.year);
    for (const c of vocabulary.filter((c) => (c.years || []).includes(year) || c.total)) {
      const box = el('input', { type: 'checkbox', value: c.code, checked: revit.chosen.includes(c.code) ? 'checked' : null });
      box.addEventListener('change', () => {
        revit.chosen = box.checked ? [...revit.chosen, c.code] : revit.chosen.filter((x) => x !== c.code);
        render();
      });
      picks.append(el('label', {}, box, el('span', { text: `${c.parent ? '– ' : ''}${label(c)}` })));
    }
    body.append(picks);
    // Own indicators.
    body.append(el('h3', { text: t('revitown') }));
    body.append(el('p', { class: 'meta', text: t('revitownhelp') }));
    const file = el('input', { type: 'file', accept: '.csv,text/csv', id: 'revit-file', 'aria-label': t('revitown') });
    file.addEventListener('change', () => { if (file.files[0]) loadOwnCsv(file.files[0]); });
    body.append(file);
    if (revit.ownErrors.length) {
      body.append(el('ul', { class: 'errors', role: 'alert' }, ...revit.ownErrors.map((e) => el('li', { text: T[state.lang].csverror(e) }))));
    }
    if (revit.own.length) {
      const own = el('div', { class: 'own' });
      revit.own.forEach((o, k) => {
        const kind = el('select', { 'aria-label': `${o.name}: ${t('status')}`, 'data-own': String(k), class: 'own-kind' },
          ...REVIT_KINDS.map((x) => el('option', { value: x, text: t(`kind_${x}`), selected: o.kind === x ? 'selected' : null })));
        kind.addEventListener('change', () => { o.kind = kind.value; render(); });
        const dir = el('select', { 'aria-label': `${o.name}: ${t('higherworse')} / ${t('lowerworse')}`, class: 'own-dir' },
          el('option', { value: 'higher', text: t('higherworse'), selected: o.higherIsWorse ? 'selected' : null }),
          el('option', { value: 'lower', text: t('lowerworse'), selected: o.higherIsWorse ? null : 'selected' }));
        dir.addEventListener('change', () => { o.higherIsWorse = dir.value === 'higher'; render(); });
        const rm = el('button', { type: 'button', text: t('remove') });
        rm.addEventListener('click', () => { revit.own.splice(k, 1); render(); });
        own.append(el('span', { text: o.name }), el('span', {}, kind, ' ', dir), rm);
      });
      body.append(own);
    }
    const nIn = el('input', { type: 'number', id: 'revit-n', min: '1', max: String(Math.max(1, res.indicators.filter((i) => i.kind === 'social').length)), value: String(revit.n) });
    nIn.addEventListener('change', () => { revit.n = Math.max(1, Number(nIn.value) || 1); render(); });
    body.append(el('p', {}, el('label', {}, `${t('revitn')}: `, nIn)));
    // The proposal.
    const deg = res.rows.filter((r) => r.status === 'degraded');
    const all = checkArea(deg.map((r) => r.code), res.rows, deg.map((r) => r.code));
    body.append(el('p', { class: 'summary', text: T[state.lang].revitsummary(deg.length, num(all.area, 1), pct(all.areaShare), num(all.population), pct(all.populationShare)) }));
    const und = res.rows.filter((r) => r.status === 'undecided').length;
    if (und) body.append(el('p', { class: 'meta', text: T[state.lang].revitundecided(und) }));
    if (!res.otherGiven) body.append(el('p', { class: 'meta', text: t('revitnoother') }));
    // The revitalisation area against art. 10.
    body.append(el('h3', { text: t('revitarea') }));
    body.append(el('p', { class: 'meta', text: t('revitclick') }));
    const allBtn = el('button', { type: 'button', id: 'revit-all', text: t('revitall') });
    allBtn.addEventListener('click', () => { revit.selected = deg.map((r) => r.code); render(); });
    const clearBtn = el('button', { type: 'button', id: 'revit-clear', text: t('revitclear') });
    clearBtn.addEventListener('click', () => { revit.selected = []; render(); });
    body.append(el('p', {}, allBtn, ' ', clearBtn));
    const c = revit.check;
    const check = el('div', { class: 'check', role: 'status', 'aria-live': 'polite' });
    if (!c.districts) check.append(el('p', { text: t('revitnone') }));
    else {
      const verdict = (ok, pp, x) => el('span', { class: ok ? 'ok' : 'bad', text: ok ? `✓ ${t('withinlimit')}` : `✗ ${T[state.lang].exceeds(num(pp, 1), x)}` });
      check.append(el('p', { class: 'area-line' }, `${T[state.lang].revitarealine(num(c.area, 1), pct(c.areaShare))} – `, verdict(c.areaOk, c.areaExcessPp, `${num(c.areaExcessKm2, 1)} km²`)));
      check.append(el('p', { class: 'pop-line' }, `${T[state.lang].revitpopline(num(c.population), pct(c.populationShare))} – `, verdict(c.populationOk, c.populationExcessPp, `${num(c.populationExcess)} ${t('residents')}`)));
      if (c.outside.length) check.append(el('p', { class: 'bad', text: T[state.lang].revitoutside(c.outside.map((x) => boundaries.byCode[x].name).join(', ')) }));
    }
    body.append(check);
    // The table.
    body.append(el('h3', { text: t('revittable') }));
    const head = el('tr', {}, el('th', { text: t('district') }), ...res.indicators.map((i) => el('th', { title: i.label, text: i.label.length > 14 ? i.label.slice(0, 13) + '…' : i.label })),
      el('th', { text: t('worsecount') }), el('th', { text: t('status') }), el('th', { text: t('chosen') }));
    const cityRow = el('tr', {}, el('td', { text: t('city') }), ...res.indicators.map((i) => el('td', { text: i.city === null ? '.' : num(i.city, 2) })), el('td'), el('td'), el('td'));
    const rows = res.rows.map((r) => el('tr', { class: `${r.status}${revit.selected.includes(r.code) ? ' chosen' : ''}`, 'data-code': r.code },
      el('td', { text: r.name }), ...r.cells.map((x) => el('td', { class: x.worse ? 'worse' : null, text: x.value === null ? '.' : `${num(x.value, 2)}${x.index === null ? '' : ` (${num(x.index, 2)})`}` })),
      el('td', { text: String(r.socialWorse) }), el('td', { text: r.status === 'degraded' ? '●' : r.status === 'undecided' ? '?' : '' }), el('td', { text: revit.selected.includes(r.code) ? t('yes') : '' })));
    // Scrolls sideways with many indicators: reachable by keyboard (WCAG 2.1.1).
    body.append(el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': t('revittable') }, el('table', {}, el('thead', {}, head), el('tbody', {}, cityRow, ...rows))));
    body.append(el('p', { class: 'meta', text: `"." – ${t('undecided')}` }));
    body.append(el('details', {}, el('summary', { text: t('method') }), el('p', { class: 'meta', text: t('revitmethod') })));
    const csv = $('revit-csv');
    if (csv.href && csv.href.startsWith('blob:')) URL.revokeObjectURL(csv.href);
    csv.href = URL.createObjectURL(new Blob([assessmentCsv(res, revit.selected)], { type: 'text/csv;charset=utf-8' }));
  }

  function sequential(values) {
    const { breaks, classes } = sequentialClasses(values, SEQ.length);
    const expr = ['case', ['==', ['get', 'hid'], true], HIDDEN, ['<=', ['get', 'v'], 0], ZERO,
      breaks.length ? ['step', ['get', 'v'], SEQ[0], ...breaks.flatMap((b, i) => [b, SEQ[i + 1]])] : SEQ[0]];
    const rows = classes.map(([lo, hi], i) => [SEQ[i], hi === lo ? fmt(lo) : `${fmt(lo)} – ${fmt(hi)}`]);
    return { expression: expr, rows: [[ZERO, state.lang === 'en' ? '0 (nobody)' : '0 (nikt)'], ...rows] };
  }
  function diverging(values) {
    const [t1, t2] = divergingThresholds(values, state.measure === 'value' && !density(shownLayer) ? 1 : 0.1);
    const expr = ['case', ['==', ['get', 'hid'], true], HIDDEN,
      ['step', ['get', 'v'], DIV[0], -t2, DIV[1], -t1, DIV[2], t1 + 1e-9, DIV[3], t2 + 1e-9, DIV[4]]];
    return { expression: expr, rows: [
      [DIV[4], `${t('increase')} ${t('more')} ${fmt(t2)}`],
      [DIV[3], `${t('increase')} ${fmt(t1)} – ${fmt(t2)}`],
      [DIV[2], `${t('nochange')} (± ${fmt(t1)})`],
      [DIV[1], `${t('decrease')} ${fmt(t1)} – ${fmt(t2)}`],
      [DIV[0], `${t('decrease')} ${t('more')} ${fmt(t2)}`],
    ] };
  }

  function legend(classes, cmp, empty) {
    const box = $('legend');
    box.replaceChildren();
    box.classList.remove('needs');
    const c = category(state.category);
    const what = density(shownLayer) ? t('density') : state.measure === 'value' ? t(families() ? 'countfam' : 'count') : t('rate');
    box.append(el('strong', { text: `${label(c) || state.category}, ${cmp ? `${t('change')} ${cmp} → ${state.year}` : state.year} – ${what}` }));
    if (empty) { box.append(el('div', { class: 'note', text: t('nodata') })); return; }
    for (const [col, txt] of classes.rows) {
      box.append(el('div', { class: 'row' }, el('span', { class: 'swatch', style: `background:${col}` }), el('span', { text: txt })));
    }
    box.append(el('div', { class: 'row' }, el('span', { class: 'swatch hatched' }), el('span', { text: t('hiddenlegend') })));
    box.append(el('div', { class: 'note', text: T[state.lang].hiddennote(snapshot.k) }));
    if (tier === 'analyst' && state.measure === 'rate_per_1000' && currentLayer().startsWith('h3')) box.append(el('div', { class: 'note', text: t('hexnorate') }));
    if (hexFallback()) box.append(el('div', { class: 'note', text: t('nohex') }));
    if (withheld) box.append(el('div', { class: 'note', text: t('withheld') }));
    instLegend();
  }
  // The institutions' colours (by sector), while they are shown.
  function instLegend() {
    const box = $('legend');
    const old = box.querySelector('.inst-legend');
    if (old) old.remove();
    if (!state.inst || !institutions.length) return;
    const sectors = [...new Set(institutions.map((i) => i.sector))].filter((x) => SECTOR_COLORS[x]);
    box.append(el('div', { class: 'inst-legend' }, el('strong', { text: t('institutions') }),
      ...sectors.map((x) => el('div', { class: 'row' }, el('span', { class: 'swatch dot', style: `background:${SECTOR_COLORS[x]}` }),
        el('span', { text: T[state.lang].sector[x] || x })))));
  }

  function describe(p) {
    const s = p.src;
    const parts = [];
    if (p.hid) {
      const hiddenNow = isHidden(s);
      parts.push(el('div', { class: 'hidden-note', text: hiddenNow ? statusText(s) : `${state.compare}: ${statusText(p.old || {})}` }));
    } else if (state.compare && state.compare !== state.year) {
      const sign = p.v > 0 ? '+' : '';
      parts.push(el('div', { text: `${t('change')} ${state.compare} → ${state.year}: ${sign}${fmt(p.v)}` }));
    } else {
      const unitTxt = state.measure === 'value' ? t(families() ? 'families' : 'persons') : t('per1000');
      if (density(shownLayer) && s.value !== undefined) {
        parts.push(el('div', { text: s.value === 0 ? `0 (${t('none')})` : `${num(s.value)} ${t('persons')} – ${fmt(p.v)} ${t('perkm2')}` }));
      } else {
        parts.push(el('div', { text: p.v === 0 ? `0 (${t('none')})` : `${fmt(p.v)} ${unitTxt}` }));
      }
      if (s.status === 'perturbed') parts.push(el('div', { class: 'hidden-note', text: statusText(s) }));
    }
    return parts;
  }
  function tooltip(e) {
    const f = e.features && e.features[0];
    if (!f) return;
    if (map.queryRenderedFeatures(e.point, { layers: ['inst-points'] }).length) { $('tooltip').hidden = true; return; }
    const p = shown[f.properties.i] && shown[f.properties.i].properties;
    if (!p) return;
    map.getCanvas().style.cursor = 'pointer';
    const box = $('tooltip');
    box.replaceChildren(el('strong', { text: `${unitName(p.src)} (${state.year})` }), ...(p.need ? describeNeeds(p.need) : p.revit ? describeRevit(p.revit) : describe(p)));
    box.hidden = false;
    const w = map.getCanvas().clientWidth;
    box.style.left = Math.min(e.point.x + 14, w - 220) + 'px';
    box.style.top = e.point.y + 14 + 'px';
  }
  function click(e) {
    $('tooltip').hidden = true;
    const inst = map.queryRenderedFeatures(e.point, { layers: ['inst-points'] });
    if (inst.length) { institutionPopup(inst[0], e.lngLat); return; }
    const units = map.queryRenderedFeatures(e.point, { layers: ['units-fill'] });
    if (!units.length) return;
    const p = shown[units[0].properties.i].properties;
    if (state.view === 'revit') { toggleRevit(p.unit); return; }
    if (currentLayer() === 'districts') { openProfile(p.unit); return; }
    const box = el('div', {}, el('h3', { text: unitName(p.src) }), ...describe(p));
    new maplibregl.Popup({ maxWidth: '20rem' }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
  }

  // ---------- institutions ----------
  // District names, once the map is close enough for them to fit (HTML markers: the map
  // has no font files to draw text with, by design nothing is fetched from elsewhere).
  const LABEL_ZOOM = 11.6;
  function addDistrictLabels(features) {
    for (const f of features) {
      const at = labelPoint(f.geometry);
      if (!at) continue;
      const div = el('div', { class: 'district-label', text: f.properties.name });
      div.setAttribute('aria-hidden', 'true');
      new maplibregl.Marker({ element: div }).setLngLat(at).addTo(map);
    }
    const toggle = () => map.getContainer().classList.toggle('labels-on', map.getZoom() >= LABEL_ZOOM && state.layer !== 'parents');
    map.on('zoomend', toggle);
    hook.toggleLabels = toggle;
    toggle();
  }
  function showDistrictLines() {
    if (!map || !map.getLayer('district-lines')) return;
    map.setLayoutProperty('district-lines', 'visibility', shownLayer.startsWith('h3') && boundaries ? 'visible' : 'none');
  }
  function renderInstitutions() {
    const on = state.inst;
    const list = institutions.filter((i) => (!state.instType || i.kind === state.instType)
      && (!state.instServes || (i.categories || []).includes(state.category) || (state.category.startsWith('any_') && (i.categories || []).some((c) => (category(c) || {}).source === state.category.slice(4).toUpperCase()))));
    const features = on ? list.map((i, n) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [i.lon, i.lat] },
      properties: { n: institutions.indexOf(i), color: SECTOR_COLORS[i.sector] || '#333' } })) : [];
    if (map.getSource('inst')) map.getSource('inst').setData({ type: 'FeatureCollection', features });
    instLegend();
    hook.institutionsShown = features.length;
  }
  const kindLabel = (k) => KINDS[state.lang][k] || k.replace(/_/g, ' ');
  function areaText(a) {
    // {"kind": "whole_city"} or {"kind": "districts", "districts": [codes]}
    if (!a || a.kind !== 'districts') return t('wholecity');
    const codes = a.districts || [];
    return codes.map((c) => (boundaries && boundaries.byCode[c] ? boundaries.byCode[c].name : c)).join(', ');
  }
  // A sub-row ("w tym wielodzietność") only makes sense after its category.
  function servesLabel(code) {
    const c = category(code);
    if (!c) return code;
    const parent = c.parent && category(c.parent);
    return parent ? `${label(parent)} – ${label(c)}` : label(c);
  }
  function institutionCard(i, heading) {
    const rows = [
      el(heading, { text: i.name }),
      el('p', { text: `${kindLabel(i.kind)} · ${T[state.lang].sector[i.sector] || i.sector}` }),
      i.address ? el('p', {}, `${t('address')}: ${i.address}`) : null,
      i.opening_hours ? el('p', {}, `${t('hours')}: ${i.opening_hours}`) : null,
      i.phone ? el('p', {}, `${t('phone')}: `, el('a', { href: 'tel:' + i.phone.replace(/\s/g, ''), text: i.phone })) : null,
      i.email ? el('p', {}, `${t('email')}: `, el('a', { href: 'mailto:' + i.email, text: i.email })) : null,
      i.website ? el('p', {}, `${t('www')}: `, el('a', { href: i.website, rel: 'noopener', target: '_blank', text: i.website })) : null,
      el('p', { text: `${t('serves')}: ${(i.categories || []).map(servesLabel).join('; ')}` }),
      i.places !== undefined || i.staff !== undefined ? el('p', { text: [i.places !== undefined ? `${t('places')}: ${num(i.places)}` : '',
        i.staff !== undefined ? `${t('staff')}: ${num(i.staff)}` : ''].filter(Boolean).join(' · ') }) : null,
      el('p', { text: `${t('area')}: ${areaText(i.area)}` }),
    ];
    return rows;
  }
  function institutionPopup(f, lngLat) {
    const i = institutions[f.properties.n];
    if (!i) return;
    // On a phone the point goes to the middle first, so the popup and its close button
    // stay on screen.
    if (window.innerWidth < 700) map.jumpTo({ center: [i.lon, i.lat] });
    new maplibregl.Popup({ maxWidth: 'min(22rem, 92vw)', className: 'inst-popup' }).setLngLat([i.lon, i.lat])
      .setDOMContent(el('div', {}, ...institutionCard(i, 'h3'))).addTo(map);
  }
  function fillInstitutionTypes() {
    const sel = $('inst-type');
    const kinds = [...new Set(institutions.map((i) => i.kind))].sort((a, b) => kindLabel(a).localeCompare(kindLabel(b), locale()));
    sel.replaceChildren(el('option', { value: '', text: t('all') }), ...kinds.map((k) => el('option', { value: k, text: kindLabel(k) })));
    sel.value = state.instType;
  }

  // ---------- district profile ----------
  let profileData = null;
  let reportData = null; // the district's report (/api/v1/reports): the print table
  // A small map of the district among the others (SVG, from the boundaries).
  function locatorMap(code) {
    if (!boundaries) return null;
    const ns = 'http://www.w3.org/2000/svg';
    const W = 220, H = 160, P = 4;
    const b = snapshot.bbox || [16.8, 51.0, 17.2, 51.2];
    const k = Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180);
    const sx = (W - 2 * P) / ((b[2] - b[0]) * k), sy = (H - 2 * P) / (b[3] - b[1]);
    const s = Math.min(sx, sy);
    const x = (lon) => P + (lon - b[0]) * k * s, y = (lat) => H - P - (lat - b[1]) * s;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('width', W); svg.setAttribute('height', H);
    svg.setAttribute('role', 'img'); svg.setAttribute('class', 'locator');
    const name = boundaries.byCode[code] ? boundaries.byCode[code].name : code;
    svg.setAttribute('aria-label', `${t('locator')}: ${name}`);
    const polys = (g) => (g.type === 'Polygon' ? [g.coordinates] : g.coordinates);
    for (const f of boundaries.features) {
      const d = polys(f.geometry).map((poly) => poly.map((ring) => ring.map(([lo, la], i) => `${i ? 'L' : 'M'}${x(lo).toFixed(1)},${y(la).toFixed(1)}`).join('') + 'Z').join('')).join('');
      const here = f.properties.code === code;
      const p = document.createElementNS(ns, 'path');
      p.setAttribute('d', d);
      p.setAttribute('fill', here ? '#00507a' : '#dde3e6');
      p.setAttribute('stroke', '#ffffff'); p.setAttribute('stroke-width', '0.6');
      if (here) p.setAttribute('data-here', 'true');
      svg.append(p);
    }
    return svg;
  }
  // The report's table, laid out as the documents lay theirs out ("." hidden, "x" not
  // applicable, an empty forecast column): shown in print.
  function reportTable(r) {
    const f = (v, rate) => (typeof v === 'number' ? num(v, rate ? 2 : 0) : v);
    const th = (text, attrs) => el('th', Object.assign({ text }, attrs || {}));
    const hasCity = r.rows.some((x) => x.city_rate_per_1000 !== null && x.city_rate_per_1000 !== undefined);
    const head = el('thead', {},
      el('tr', {}, th(t('rowname'), { rowspan: '2' }), th(t('persons2'), { colspan: '4' }), th(t('per1000h'), { colspan: '3' }),
        hasCity ? th(`${t('cityrate')} ${r.years[2]}`, { rowspan: '2' }) : null),
      el('tr', {}, ...r.years.map((y) => th(String(y))), th(`${r.forecast_year} (${t('forecast')})`), ...r.years.map((y) => th(String(y)))));
    const body = el('tbody', {});
    body.append(el('tr', {}, el('td', { text: t('residentsrow') }), ...r.population.map((v) => el('td', { text: f(v) })), el('td'), el('td'), el('td'), el('td'), hasCity ? el('td') : null));
    let source = '';
    for (const x of r.rows) {
      if (x.source !== source) {
        source = x.source;
        body.append(el('tr', { class: 'section' }, el('td', { colspan: hasCity ? '9' : '8', text: t(source === 'OPS' ? 'opsrows' : 'puprows') })));
      }
      const name = state.lang === 'en' ? x.label_en : x.label_pl;
      body.append(el('tr', { 'data-code': x.code, class: x.parent ? 'sub' : '' },
        el('td', { text: x.parent ? `${t('within')}: ${name}` : name }),
        ...x.persons.map((v) => el('td', { text: f(v) })), el('td', { class: 'forecast' }),
        ...x.rate_per_1000.map((v) => el('td', { text: f(v, true) })),
        hasCity ? el('td', { text: x.city_rate_per_1000 === null || x.city_rate_per_1000 === undefined ? '' : f(x.city_rate_per_1000, true) }) : null));
    }
    return el('div', { class: 'report print-only' }, el('h3', { text: `${t('reporttitle')} ${r.years[2]}` }),
      el('table', {}, head, body), el('p', { class: 'meta', text: state.lang === 'en' ? r.footnote_en : r.footnote_pl }));
  }
  async function openProfile(code) {
    state.district = code;
    map.setFilter('units-selected', ['==', ['get', 'unit'], state.layer === 'districts' ? code : '']);
    pushState();
    try {
      [profileData, reportData] = await Promise.all([api.profile(code), api.report(code, state.year)]);
    } catch (e) { showError(e); return; }
    renderProfile();
    $('profile').hidden = false;
    $('profile-title').focus();
    hook.profileOpen = code;
  }
  function closeProfile() {
    $('profile').hidden = true;
    state.district = '';
    profileData = null;
    hook.profileOpen = null;
    map.setFilter('units-selected', ['==', ['get', 'unit'], '']);
    pushState();
    $('search').focus();
  }
  function chart(series, city, useRate) {
    const years = snapshot.years;
    // Room for the axes: the value scale on the left, the first and last year below.
    const W = 176, H = 64, P = 4, L = 28, B = 13;
    const val = (c) => (c && !isHidden(c) ? (useRate ? c.rate_per_1000 : c.value) : null);
    const byYear = (s) => new Map(s.map((c) => [c.year, c]));
    const d = byYear(series), m = byYear(city || []);
    const pts = years.map((y) => [y, val(d.get(y)), useRate ? val(m.get(y)) : null]);
    const max = Math.max(1e-9, ...pts.flatMap(([, a, b]) => [a || 0, b || 0]));
    const x = (i) => L + (i * (W - L - P)) / Math.max(1, years.length - 1);
    const y = (v) => H - B - (v / max) * (H - B - P);
    const path = (k) => {
      let s = '', pen = false;
      pts.forEach((p, i) => { if (p[k] === null) { pen = false; return; } s += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(p[k]).toFixed(1)}`; pen = true; });
      return s;
    };
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('width', W); svg.setAttribute('height', H);
    svg.setAttribute('role', 'img');
    const desc = pts.map(([yr, a]) => `${yr}: ${a === null ? t('hidden') : num(a, useRate ? 1 : 0)}`).join('; ');
    svg.setAttribute('aria-label', desc);
    const add = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); svg.append(e); return e; };
    add('line', { x1: L, x2: W - P, y1: H - B, y2: H - B, stroke: '#999', 'stroke-width': 0.6 });
    add('line', { x1: L, x2: L, y1: P, y2: H - B, stroke: '#999', 'stroke-width': 0.6 });
    const label = (txt, attrs) => { add('text', Object.assign({ 'font-size': 8.5, fill: '#444', class: 'axis' }, attrs)).textContent = txt; };
    if (max > 1e-6) label(num(max, useRate ? 1 : 0), { x: L - 3, y: P + 6, 'text-anchor': 'end' });
    label('0', { x: L - 3, y: H - B, 'text-anchor': 'end' });
    if (years.length) {
      label(String(years[0]), { x: L, y: H - 2, 'text-anchor': 'start' });
      if (years.length > 1) label(String(years[years.length - 1]), { x: W - P, y: H - 2, 'text-anchor': 'end' });
    }
    if (useRate) add('path', { d: path(2), fill: 'none', stroke: '#6b6b6b', 'stroke-width': 1.3, 'stroke-dasharray': '3 2' });
    add('path', { d: path(1), fill: 'none', stroke: '#00507a', 'stroke-width': 2 });
    pts.forEach((p, i) => {
      if (p[1] === null) add('circle', { cx: x(i), cy: H - B - 2, r: 2.2, fill: '#fff', stroke: '#7a1d00', 'stroke-width': 1, class: 'hidden-year' });
      else add('circle', { cx: x(i), cy: y(p[1]), r: 1.6, fill: '#00507a' });
    });
    const title = document.createElementNS(ns, 'title');
    title.textContent = desc;
    svg.prepend(title);
    return svg;
  }
  function renderProfile() {
    const p = profileData;
    if (!p) return;
    const d = p.district;
    const lastYear = snapshot.years[snapshot.years.length - 1];
    const pop = (d.population || {})[lastYear];
    $('profile-title').textContent = `${d.name}${d.parent_name ? ' (' + d.parent_name + ')' : ''}`;
    $('profile-title').setAttribute('tabindex', '-1');
    const body = $('profile-body');
    body.replaceChildren();
    body.append(el('p', { class: 'meta', text: `${t('district')} ${d.code}${pop ? ` · ${num(pop)} ${t('population')} (${lastYear})` : ''}` }));
    body.append(el('p', { class: 'meta', text: `${p.synthetic ? t('synthetic') + ' ' : ''}${t('snapshot')} ${p.snapshot}, ${t('policy')} ${p.policy_version}.` }));
    body.append(el('p', { class: 'meta', text: `${state.lang === 'en' ? p.note_en : p.note_pl} ${T[state.lang].profilehidden(p.hidden_values)}` }));
    if (tier === 'analyst') body.append(el('p', { class: 'meta', text: t('profilepublic') }));
    const where = locatorMap(d.code);
    if (where) body.append(el('figure', { class: 'locator-fig' }, where, el('figcaption', { class: 'meta', text: t('locator') })));
    body.append(el('div', { class: 'chart-key' }, el('span', {}, el('i', { style: 'border-color:#00507a' }), t('district')),
      el('span', {}, el('i', { style: 'border-color:#6b6b6b;border-top-style:dashed' }), t('city')), el('span', { text: `(${t('per1000')})` })));
    body.append(el('p', { class: 'meta', text: t('profilenote') }));
    for (const src of ['OPS', 'PUP']) {
      const cats = p.categories.filter((c) => c.source === src);
      if (!cats.length) continue;
      body.append(el('h3', { text: t(src.toLowerCase()) }));
      const ordered = [];
      for (const c of cats.filter((c) => !c.parent)) {
        ordered.push(c);
        for (const s of cats.filter((x) => x.parent === c.code)) ordered.push(s);
      }
      for (const c of [...cats.filter((c) => c.code.startsWith('any_')), ...ordered.filter((c) => !c.code.startsWith('any_'))]) {
        const last = c.series[c.series.length - 1];
        const cityLast = (c.city || []).find((x) => last && x.year === last.year);
        const useRate = c.series.some((x) => x.rate_per_1000 !== null && x.rate_per_1000 !== undefined);
        let fig = '';
        if (last) {
          fig = isHidden(last)
            ? `${last.year}: ${state.lang === 'en' ? last.status_en : last.status_pl}`
            : `${last.year}: ${num(last.value)} ${t('persons')}${useRate && last.rate_per_1000 !== null ? ` · ${num(last.rate_per_1000, 1)} ${t('per1000')}` : ''}${cityLast && cityLast.rate_per_1000 !== null && cityLast.rate_per_1000 !== undefined ? ` (${t('city')} ${num(cityLast.rate_per_1000, 1)})` : ''}`;
        }
        body.append(el('div', { class: `cat${c.parent ? ' sub' : ''}${c.code === state.category ? ' current' : ''}`, 'data-code': c.code },
          el('span', { class: 'name', text: label(c) }), el('span', { class: 'figures', text: fig }), chart(c.series, c.city, useRate)));
      }
    }
    if (reportData && reportData.unit === d.code) body.append(reportTable(reportData));
    body.append(el('h3', { text: t('inststitle') }));
    const ul = el('ul', { class: 'inst' });
    for (const i of p.institutions || []) ul.append(el('li', {}, ...institutionCard(i, 'strong').map((n) => (n && n.tagName === 'P' ? el('div', {}, ...n.childNodes) : n))));
    body.append(ul);
    const csv = $('profile-csv');
    if (isStatic()) {
      csv.href = URL.createObjectURL(new Blob([profileCsv(p)], { type: 'text/csv;charset=utf-8' }));
    } else {
      csv.href = `api/v1/table.csv?unit=${encodeURIComponent(d.code)}`;
    }
    csv.setAttribute('download', `kmapa-${d.code}.csv`);
    const xl = $('profile-xlsx');
    xl.href = api.reportXlsx(d.code, state.year);
    xl.setAttribute('download', `kmapa-raport-${d.code}-${state.year}.xlsx`);
    $('profile').setAttribute('data-print-note', `${t('printnote')} · ${t('snapshot')} ${p.snapshot} · ${t('policy')} ${p.policy_version} · ${new Date().toISOString().slice(0, 10)}`);
  }
  function profileCsv(p) {
    const q = (s) => (/[",\n]/.test(String(s)) ? `"${String(s).replace(/"/g, '""')}"` : String(s));
    let out = 'unit,name,category,group,year,value,status,rate_per_1000,snapshot,policy_version\n';
    for (const c of p.categories) for (const s of c.series) {
      out += [p.district.code, p.district.name, c.code, 'all', s.year, s.value === null ? '' : s.value, s.status,
        s.rate_per_1000 === null || s.rate_per_1000 === undefined ? '' : s.rate_per_1000.toFixed(2), p.snapshot, p.policy_version].map(q).join(',') + '\n';
    }
    return out;
  }

  // ---------- controls, language, tiers, URL ----------
  function pushState() {
    const p = new URLSearchParams({ category: state.category, year: state.year, measure: state.measure, layer: state.layer, lang: state.lang });
    if (families()) p.set('counted', 'households');
    if (state.compare) p.set('compare', state.compare);
    if (state.district) p.set('district', state.district);
    if (state.inst) p.set('inst', '1');
    if (state.instType) p.set('inst_type', state.instType);
    if (state.instServes) p.set('inst_serves', '1');
    if (state.at) p.set('at', state.at);
    if (state.view !== 'map') p.set('view', state.view);
    if (state.view === 'revit') {
      p.set('ri', revit.chosen.join(','));
      p.set('rn', String(revit.n));
      if (revit.selected.length) p.set('rs', revit.selected.join(','));
    }
    history.replaceState(null, '', '?' + p.toString());
  }
  function fillCategories() {
    const sel = $('category');
    sel.replaceChildren();
    const year = Number(state.year);
    for (const src of ['OPS', 'PUP']) {
      const g = el('optgroup', { label: t(src.toLowerCase()) });
      const inSource = vocabulary.filter((c) => c.source === src);
      const opt = (c, indent) => el('option', { value: c.code, disabled: !(c.years || []).includes(year) ? 'disabled' : null,
        text: (indent ? '\u00a0\u00a0\u00a0– ' : '') + label(c) });
      for (const c of inSource.filter((c) => c.total)) g.append(opt(c, false));
      for (const c of inSource.filter((c) => !c.parent && !c.total)) {
        g.append(opt(c, false));
        for (const s of inSource.filter((x) => x.parent === c.code)) g.append(opt(s, true));
      }
      sel.append(g);
    }
    if (!vocabulary.some((c) => c.code === state.category)) state.category = 'any_ops';
    sel.value = state.category;
  }
  function fillYears() {
    const ys = snapshot.years;
    if (!ys.includes(Number(state.year))) state.year = String(ys[ys.length - 1]);
    const r = $('year');
    r.min = 0; r.max = ys.length - 1; r.value = ys.indexOf(Number(state.year));
    r.setAttribute('aria-valuetext', state.year);
    $('year-value').textContent = state.year;
    const c = $('compare');
    c.replaceChildren(el('option', { value: '', text: t('nocompare') }), ...ys.map((y) => el('option', { value: String(y), text: String(y) })));
    if (!ys.includes(Number(state.compare))) state.compare = '';
    c.value = state.compare;
  }
  function texts() {
    document.documentElement.lang = state.lang;
    document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
    // The example district and the boundaries' attribution come from the snapshot:
    // the map names this city's places and sources, not the demo city's.
    const example = (snapshot && snapshot.example_district) || '';
    document.querySelectorAll('[data-i18n-placeholder]').forEach((e) => {
      e.placeholder = example ? t(e.dataset.i18nPlaceholder).replace('{example}', example) : '';
    });
    document.querySelectorAll('[data-i18n-label]').forEach((e) => { e.setAttribute('aria-label', t(e.dataset.i18nLabel)); });
    $('lang').textContent = t('lang');
    $('more').textContent = t($('controls').classList.contains('open') ? 'lesssettings' : 'moresettings');
    $('lang').setAttribute('lang', state.lang === 'pl' ? 'en' : 'pl');
    $('lang').setAttribute('aria-label', t('langlabel'));
    $('signin').textContent = tier === 'analyst' ? t('signout') : t('signin');
    $('signin').hidden = isStatic();
    const hexOpt = $('layer').querySelector('option[value=hex]');
    hexOpt.disabled = !hasHexagons();
    const tierBox = $('tier');
    tierBox.className = tier;
    tierBox.textContent = tier === 'analyst' ? t('tieranalyst') : `${t('tierpublic')} – ${t('snapshot')} ${snapshot.number}`;
    const notice = $('notice');
    notice.replaceChildren();
    if (snapshot.synthetic) notice.append(el('strong', { text: t('synthetic') }), ' ');
    const attribution = snapshot.attribution || t('attribution');
    notice.append(`${t('snapshot')} ${snapshot.number} (${String(snapshot.published_at || '').slice(0, 10)}), ${t('policy')} ${snapshot.policy_version}. ${attribution.replace(/\.$/, '')}. `,
      el('a', { id: 'city-report', download: '' }));
    cityReportLink();
    if (map && map._kmapaAttribution) map.removeControl(map._kmapaAttribution);
    // The footer credits the boundaries; a box over the map (it covered the southern
    // districts) only with a basemap, whose tiles name their own sources.
    if (map && config.basemap_style) {
      map._kmapaAttribution = new maplibregl.AttributionControl({ compact: window.innerWidth < 700,
        customAttribution: [attribution, snapshot.synthetic ? t('synthetic') : ''].filter(Boolean).join(' · ') });
      map.addControl(map._kmapaAttribution, 'bottom-right');
    }
    fillInstitutionTypes();
    $('inst').checked = state.inst;
    $('inst-serves').checked = state.instServes;
    $('measure').value = state.measure;
    syncCounted();
    $('layer').value = state.layer;
    $('view').value = state.view;
    // What does not apply to needs against help (districts, the public tier, one year).
    for (const id of ['compare', 'measure', 'layer']) $(id).disabled = state.view !== 'map';
    $('category').disabled = state.view === 'revit';
  }
  // The city's report (XLSX) for the year shown, from the footer.
  function cityReportLink() {
    const a = $('city-report');
    if (!a) return;
    a.textContent = `${t('cityreport')} ${state.year}`;
    a.href = api.reportXlsx('city', state.year);
    a.setAttribute('download', `kmapa-raport-miasto-${state.year}.xlsx`);
  }
  function showError(e) {
    hook.errors.push(String(e && e.message));
    const box = $('legend');
    box.replaceChildren(el('strong', { text: t('loaderror') }), el('div', { class: 'note', role: 'alert', text: String(e && e.message) }));
  }
  function findDistrict(text) {
    if (!boundaries || !text) return null;
    const s = text.trim().toLocaleLowerCase(locale());
    return boundaries.features.find((f) => f.properties.name.toLocaleLowerCase(locale()) === s || f.properties.code.toLocaleLowerCase() === s)
      || boundaries.features.find((f) => f.properties.name.toLocaleLowerCase(locale()).startsWith(s));
  }
  function bboxOf(geom) {
    let b = [180, 90, -180, -90];
    const walk = (c) => { if (typeof c[0] === 'number') { b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])]; } else c.forEach(walk); };
    walk(geom.coordinates);
    return b;
  }
  function selectDistrict(f) {
    const b = bboxOf(f.geometry);
    if (state.layer !== 'districts') { state.layer = 'districts'; $('layer').value = 'districts'; render(); }
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 13.5, duration: 500 });
    openProfile(f.properties.code);
  }
  async function setTier(newTier, tok) {
    if (newTier === 'analyst') {
      const layers = await api.analystLayers(tok);
      token = tok;
      sessionStorage.setItem('kmapa-token', tok);
      analystLayers = layers.layers || [];
      tier = 'analyst';
    } else {
      token = '';
      sessionStorage.removeItem('kmapa-token');
      tier = 'public';
      analystLayers = [];
    }
    hook.tier = tier;
    texts();
    render();
  }
  function wire() {
    $('category').addEventListener('change', (e) => { state.category = e.target.value; render(); if (profileData) renderProfile(); });
    $('year').addEventListener('input', (e) => {
      state.year = String(snapshot.years[Number(e.target.value)]);
      $('year-value').textContent = state.year;
      e.target.setAttribute('aria-valuetext', state.year);
      fillCategories();
      cityReportLink();
      render();
      if (profileData && state.district) openProfile(state.district);
    });
    $('compare').addEventListener('change', (e) => { state.compare = e.target.value; render(); });
    $('measure').addEventListener('change', (e) => { state.measure = e.target.value; render(); });
    $('counted').addEventListener('change', (e) => { state.counted = e.target.value; render(); });
    $('layer').addEventListener('change', (e) => { state.layer = e.target.value; render(); });
    $('view').addEventListener('change', (e) => {
      state.view = e.target.value;
      if (state.view === 'revit' && !$('profile').hidden) closeProfile();
      texts(); render();
    });
    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'pl' ? 'en' : 'pl';
      fillCategories(); fillYears(); texts(); render();
      if (profileData) renderProfile();
    });
    const search = $('search');
    const go = () => { const f = findDistrict(search.value); if (f) { search.value = f.properties.name; selectDistrict(f); } };
    search.addEventListener('change', go);
    search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); go(); } });
    $('inst').addEventListener('change', (e) => { state.inst = e.target.checked; renderInstitutions(); pushState(); });
    $('inst-type').addEventListener('change', (e) => { state.instType = e.target.value; state.inst = true; $('inst').checked = true; renderInstitutions(); pushState(); });
    $('inst-serves').addEventListener('change', (e) => { state.instServes = e.target.checked; state.inst = true; $('inst').checked = true; renderInstitutions(); pushState(); });
    $('more').addEventListener('click', () => {
      const open = $('controls').classList.toggle('open');
      $('more').setAttribute('aria-expanded', String(open));
      $('more').textContent = t(open ? 'lesssettings' : 'moresettings');
    });
    $('profile-close').addEventListener('click', closeProfile);
    $('profile-print').addEventListener('click', () => window.print());
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('profile').hidden && !$('signin-dialog').open) closeProfile(); });
    const dlg = $('signin-dialog');
    $('signin').addEventListener('click', () => {
      if (tier === 'analyst') { setTier('public'); return; }
      $('signin-error').textContent = '';
      $('token').value = '';
      dlg.showModal();
    });
    $('signin-cancel').addEventListener('click', () => dlg.close());
    $('signin-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await setTier('analyst', $('token').value.trim());
        dlg.close();
      } catch (err) {
        $('signin-error').textContent = err.status === 401 ? t('badtoken') : err.status === 403 ? t('badrole') : err.status === 404 || err.status === 503 ? t('noanalyst') : String(err.message);
      }
    });
  }

  async function start() {
    try {
      config = await getJSON('web/config.json').catch(() => ({ mode: 'api' }));
      [snapshot, vocabulary] = await Promise.all([api.snapshot(), api.vocabulary()]);
    } catch (e) {
      document.body.prepend(el('p', { role: 'alert', text: `kmapa: ${e.message}` }));
      return;
    }
    hook.snapshot = snapshot;
    fillYears();
    fillCategories();
    const mapReady = makeMap();
    texts();
    wire();
    if (token) {
      try { await setTier('analyst', token); } catch (_) { token = ''; sessionStorage.removeItem('kmapa-token'); }
    }
    await mapReady;
    texts();
    render();
    // Names, population and institutions: not needed for the first picture.
    const [b, inst] = await Promise.all([getBoundaries(), api.institutions()]).catch((e) => { showError(e); return [null, null]; });
    if (b) {
      $('district-names').replaceChildren(...b.features.map((f) => f.properties.name).sort((x, y) => x.localeCompare(y, 'pl')).map((n) => el('option', { value: n })));
      hook.districtsLoaded = b.features.length;
      map.getSource('district-outlines').setData({ type: 'FeatureCollection', features: b.features.map((f) => ({ type: 'Feature', geometry: f.geometry, properties: {} })) });
      showDistrictLines();
      addDistrictLabels(b.features);
    }
    if (inst) {
      institutions = inst.features.map((f) => f.properties);
      fillInstitutionTypes();
      renderInstitutions();
    }
    if (tier === 'analyst') render();
    if (state.district) openProfile(state.district);
  }
  start();
})();
