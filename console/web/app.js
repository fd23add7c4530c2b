// riskmon control-room console. Plain browser JavaScript with no build step
// and no external resources, so it runs on an isolated control-room network.
//
// State model: the open alerts and the site list are loaded over the API,
// then kept current by the /api/v1/stream Server-Sent Events. Every stream
// event is applied idempotently by alert id, so loading the state again
// after a "resync" and then applying events already reflected is harmless.
'use strict';

(function () {
  const I18N = {
    zh: {
      title: '危险源监测预警监控台',
      board: '当前告警',
      board_empty: '暂无告警',
      sites: '场所总览',
      close: '关闭',
      banner_new: '新告警',
      banner_close: '关闭',
      col_level: '级别', col_site: '场所', col_sensor: '测点', col_rule: '规则',
      col_value: '数值', col_setpoint: '设定值', col_started: '开始时间', col_duration: '持续',
      col_message: '信息', col_ack: '确认', col_kind: '类型', col_status: '状态', col_setpoints: '报警设定',
      conn_live: '实时', conn_connecting: '连接中', conn_offline: '已断开',
      level_1: '一级 红', level_2: '二级 橙', level_3: '三级 黄', level_4: '四级 蓝', level_0: '正常',
      sector_hazchem: '危险化学品', sector_coal: '煤矿', sector_noncoal: '非煤矿山',
      sector_pipeline: '油气管道', sector_urbangas: '城镇燃气', sector_other: '其他',
      status_ok: '正常', status_alerting: '报警', status_stale: '数据超时',
      open_alerts: '告警', stale: '超时', sensors: '测点',
      type_fired: '触发', type_escalated: '升级', type_deescalated: '降级', type_resolved: '解除', type_acknowledged: '已确认',
      dir_above: '≥', dir_below: '≤',
      h: '时', m: '分', s: '秒',
      logout: '退出', login_title: '登录', login_user: '用户名', login_password: '密码', login_submit: '登录',
      login_bad: '用户名或密码错误', login_limited: '尝试次数过多，请稍后再试', login_failed: '登录失败',
      ack: '确认', ack_comment: '备注（可选）', ack_failed: '确认失败', unacked: '未确认',
      role_viewer: '查看员', role_operator: '操作员', role_admin: '管理员',
      lc_resolved_unacknowledged: '已解除 未确认', lc_latched: '锁定 待确认',
    },
    en: {
      title: 'Hazard monitoring console',
      board: 'Open alerts',
      board_empty: 'No open alerts',
      sites: 'Sites',
      close: 'Close',
      banner_new: 'New alert',
      banner_close: 'Dismiss',
      col_level: 'Level', col_site: 'Site', col_sensor: 'Sensor', col_rule: 'Rule',
      col_value: 'Value', col_setpoint: 'Setpoint', col_started: 'Started', col_duration: 'For',
      col_message: 'Message', col_ack: 'Ack', col_kind: 'Kind', col_status: 'Status', col_setpoints: 'Setpoints',
      conn_live: 'Live', conn_connecting: 'Connecting', conn_offline: 'Offline',
      level_1: '1 Red', level_2: '2 Orange', level_3: '3 Yellow', level_4: '4 Blue', level_0: 'OK',
      sector_hazchem: 'Hazardous chemicals', sector_coal: 'Coal mines', sector_noncoal: 'Non-coal mines',
      sector_pipeline: 'Oil & gas pipelines', sector_urbangas: 'Urban gas', sector_other: 'Other',
      status_ok: 'OK', status_alerting: 'Alerting', status_stale: 'Stale',
      open_alerts: 'alerts', stale: 'stale', sensors: 'sensors',
      type_fired: 'fired', type_escalated: 'escalated', type_deescalated: 'de-escalated', type_resolved: 'resolved', type_acknowledged: 'acknowledged',
      dir_above: '≥', dir_below: '≤',
      h: 'h', m: 'm', s: 's',
      logout: 'Log out', login_title: 'Log in', login_user: 'User', login_password: 'Password', login_submit: 'Log in',
      login_bad: 'Wrong user name or password', login_limited: 'Too many attempts; wait and try again', login_failed: 'Login failed',
      ack: 'Ack', ack_comment: 'comment (optional)', ack_failed: 'Ack failed', unacked: 'unacked',
      role_viewer: 'viewer', role_operator: 'operator', role_admin: 'admin',
      lc_resolved_unacknowledged: 'resolved, unacked', lc_latched: 'latched',
    },
  };
  const SECTORS = ['hazchem', 'coal', 'noncoal', 'pipeline', 'urbangas'];

  const state = {
    lang: localStorage.getItem('riskmon.lang') === 'en' ? 'en' : 'zh',
    open: new Map(),     // alert id -> alert, as GET /api/v1/alerts returns it
    sites: [],           // GET /api/v1/sites
    selected: null,      // site id shown in the detail panel
    sensors: [],         // GET /api/v1/sites/{selected}/sensors
    lastEventId: '',
    es: null,
    reconnectTimer: 0,
    renderTimer: 0,
    fresh: new Set(),    // alert ids to highlight at the next render
    reloadSensors: false,
    me: null,            // GET /api/v1/me: user, role, csrf, open
  };

  const $ = (id) => document.getElementById(id);
  const t = (key) => I18N[state.lang][key] || I18N.zh[key] || key;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, '0');
    return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function fmtDuration(iso) {
    if (!iso) return '';
    let s = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (h > 0) return `${h}${t('h')}${m}${t('m')}`;
    if (m > 0) return `${m}${t('m')}${s}${t('s')}`;
    return `${s}${t('s')}`;
  }

  function fmtValue(v, unit) {
    if (v === undefined || v === null) return '—';
    const n = Number(v);
    const txt = Number.isInteger(n) ? String(n) : n.toFixed(Math.abs(n) < 10 ? 2 : 1);
    return unit ? `${txt} ${unit}` : txt;
  }

  async function getJSON(path) {
    const res = await fetch(path, { headers: { Accept: 'application/json' } });
    if (res.status === 401) showLogin(); // the session expired
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  // post sends a change with the session's CSRF token: the server refuses
  // a session's changes without it.
  function post(path, body) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (state.me && state.me.csrf) headers['X-CSRF-Token'] = state.me.csrf;
    return fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
  }

  function canAck() {
    return Boolean(state.me && (state.me.role === 'operator' || state.me.role === 'admin'));
  }

  // ---- accounts ----------------------------------------------------------

  async function start() {
    const res = await fetch('api/v1/me', { headers: { Accept: 'application/json' } }).catch(() => null);
    if (!res) {
      setConn('offline');
      window.setTimeout(start, 5000);
      return;
    }
    if (res.status === 401) {
      showLogin();
      return;
    }
    loggedIn(await res.json());
  }

  function loggedIn(me) {
    state.me = me;
    $('login').hidden = true;
    $('who').hidden = me.open;
    $('logout').hidden = me.open;
    renderWho();
    renderBoard();
    // The stream's first event is a resync, which loads the state; opening
    // the stream first means no event can fall between load and subscribe.
    connect();
  }

  function renderWho() {
    if (state.me && !state.me.open) $('who').textContent = `${state.me.user} · ${t(`role_${state.me.role}`)}`;
  }

  function showLogin() {
    if (!$('login').hidden) return; // already asking; keep the typing
    if (state.es) state.es.close();
    state.es = null;
    window.clearTimeout(state.reconnectTimer);
    state.me = null;
    // The next user starts from a fresh load, not from where the stream
    // of the last one left off.
    state.lastEventId = '';
    state.open = new Map();
    renderBoard();
    delete $('board').dataset.loaded;
    $('who').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-user').focus();
  }

  async function submitLogin(e) {
    e.preventDefault();
    const err = $('login-error');
    err.textContent = '';
    const res = await post('api/v1/login', { user: $('login-user').value, password: $('login-password').value }).catch(() => null);
    $('login-password').value = '';
    if (res && res.ok) {
      loggedIn(await res.json());
      return;
    }
    err.textContent = t(!res ? 'login_failed' : res.status === 429 ? 'login_limited' : res.status === 401 ? 'login_bad' : 'login_failed');
  }

  async function logout() {
    await post('api/v1/logout').catch(() => null);
    // Shift change: the next operator types their own name.
    $('login-user').value = '';
    showLogin();
  }

  async function acknowledge(id, comment, cell) {
    const res = await post(`api/v1/alerts/${encodeURIComponent(id)}/ack`, { comment }).catch(() => null);
    if (res && res.ok) {
      // The stream brings the acknowledgement too; applying the answer now
      // shows it even if the stream is reconnecting.
      const rec = await res.json();
      applyEvent({ type: 'acknowledged', alert_id: id, by: rec.acked_by, at: rec.acked_at, comment: rec.comment }, false);
      return;
    }
    if (res && res.status === 401) showLogin();
    cell.appendChild(el('span', 'ack-error', ` ${t('ack_failed')}${res ? ` (${res.status})` : ''}`));
  }

  // ---- loading -----------------------------------------------------------

  async function loadAlerts() {
    const open = new Map();
    // Page through rather than trusting one page to hold an incident.
    for (let offset = 0; ; offset += 1000) {
      const page = await getJSON(`api/v1/alerts?state=open&limit=1000&offset=${offset}`);
      for (const a of page.alerts) open.set(a.id, a);
      if (offset + page.alerts.length >= page.total || page.alerts.length === 0) break;
    }
    // Under the alert lifecycle a cleared alert stays in front of the
    // operator until someone acknowledges it.
    for (let offset = 0; ; offset += 1000) {
      const page = await getJSON(`api/v1/alerts?state=resolved&acked=false&limit=1000&offset=${offset}`);
      for (const a of page.alerts) if (a.lifecycle !== 'done') open.set(a.id, a);
      if (offset + page.alerts.length >= page.total || page.alerts.length === 0) break;
    }
    state.open = open;
    renderBoard();
    // Says the board holds the loaded state, not just what the stream
    // brought so far (tests wait for it).
    $('board').dataset.loaded = 'true';
    renderSites();
  }

  async function loadSites() {
    const body = await getJSON('api/v1/sites');
    state.sites = body.sites;
    renderSites();
  }

  async function loadSensors() {
    if (!state.selected) return;
    const body = await getJSON(`api/v1/sites/${encodeURIComponent(state.selected)}/sensors`);
    if (body.site !== state.selected) return;
    state.sensors = body.sensors;
    renderSensors();
  }

  // resync reloads everything the stream cannot replay. Failures are shown
  // as the offline state and retried, never thrown: an uncaught error in a
  // control room would look like a broken console.
  async function resync() {
    try {
      await Promise.all([loadAlerts(), loadSites(), loadSensors()]);
    } catch (err) {
      setConn('offline');
      window.setTimeout(resync, 5000);
    }
  }

  // ---- stream ------------------------------------------------------------

  function connect() {
    window.clearTimeout(state.reconnectTimer);
    let url = 'api/v1/stream';
    // A new EventSource does not carry the old one's Last-Event-ID, so pass
    // it along when we had to recreate the connection ourselves.
    if (state.lastEventId) url += `?last_event_id=${encodeURIComponent(state.lastEventId)}`;
    const es = new EventSource(url);
    state.es = es;
    setConn('connecting');
    es.onopen = () => setConn('live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (for example the server answered with an
        // error page while restarting): try again ourselves.
        // start asks who we are first, so an expired session shows the
        // login instead of retrying for ever.
        setConn('offline');
        state.reconnectTimer = window.setTimeout(start, 3000);
      } else {
        setConn('connecting'); // EventSource retries on its own
      }
    };
    es.addEventListener('alert', (e) => {
      state.lastEventId = e.lastEventId;
      applyEvent(JSON.parse(e.data), true);
    });
    es.addEventListener('resync', (e) => {
      state.lastEventId = e.lastEventId;
      resync();
    });
    es.addEventListener('readings', (e) => applyReadings(JSON.parse(e.data)));
  }

  function setConn(s) {
    const c = $('conn');
    c.className = `conn conn-${s}`;
    c.dataset.i18n = `conn_${s}`;
    c.textContent = t(`conn_${s}`);
  }

  function applyEvent(ev, live) {
    if (ev.type === 'acknowledged') {
      // Only marks an alert shown; an acknowledgement never brings an
      // alert (back) onto the board.
      const a = state.open.get(ev.alert_id);
      if (a && a.state === 'resolved') {
        state.open.delete(ev.alert_id); // cleared and seen: done
        scheduleRender(false);
      } else if (a) {
        a.acknowledged = true;
        a.lifecycle = 'active_acknowledged';
        a.acked_by = ev.by;
        a.acked_at = ev.at;
        a.ack_comment = ev.comment;
        scheduleRender(false);
      }
      return;
    }
    if (ev.type === 'resolved') {
      const a = state.open.get(ev.alert_id);
      if (!a || a.acknowledged) {
        state.open.delete(ev.alert_id);
      } else {
        // Stays until acknowledged; ask whether it latched.
        a.state = 'resolved';
        a.lifecycle = 'resolved_unacknowledged';
        a.message = ev.message;
        getJSON(`api/v1/alerts/${encodeURIComponent(ev.alert_id)}`).then((full) => {
          const cur = state.open.get(ev.alert_id);
          if (cur && full.lifecycle) {
            cur.lifecycle = full.lifecycle;
            scheduleRender(false);
          }
        }).catch(() => {});
      }
    } else {
      const prev = state.open.get(ev.alert_id);
      state.open.set(ev.alert_id, {
        id: ev.alert_id, state: 'open', rule: ev.rule, site: ev.site, sensor: ev.sensor,
        kind: ev.kind, unit: ev.unit, level: ev.level, color: ev.color, severity: ev.severity,
        value: ev.value, setpoint: ev.setpoint, message: ev.message,
        starts_at: ev.starts_at || (prev && prev.starts_at) || ev.at, updated_at: ev.at,
        sector: prev ? prev.sector : sectorOf(ev.site),
        // A worse level needs acknowledging again.
        acknowledged: ev.type === 'escalated' ? false : Boolean(prev && prev.acknowledged),
        acked_by: ev.type === 'escalated' ? '' : (prev && prev.acked_by) || '',
        acked_at: ev.type === 'escalated' ? '' : (prev && prev.acked_at) || '',
        ack_comment: ev.type === 'escalated' ? '' : (prev && prev.ack_comment) || '',
      });
      if (live && (ev.type === 'fired' || ev.type === 'escalated') && ev.level >= 1 && ev.level <= 2) {
        showBanner(ev);
      }
    }
    if (ev.type !== 'resolved') state.fresh.add(ev.alert_id);
    scheduleRender(state.selected === ev.site);
  }

  // scheduleRender coalesces a burst of events (an incident, a replay
  // after reconnecting) into one redraw instead of one per event.
  function scheduleRender(reloadSensors) {
    if (reloadSensors) state.reloadSensors = true;
    if (state.renderTimer) return;
    state.renderTimer = window.setTimeout(() => {
      state.renderTimer = 0;
      renderBoard();
      renderSites();
      if (state.reloadSensors) {
        state.reloadSensors = false;
        loadSensors().catch(() => {});
      }
    }, 50);
  }

  function applyReadings(list) {
    if (!state.selected) return;
    let changed = false;
    for (const r of list) {
      if (r.site !== state.selected) continue;
      const s = state.sensors.find((x) => x.id === r.sensor);
      if (!s) continue;
      s.value = r.value;
      s.at = r.at;
      s.quality = r.quality;
      if (s.status === 'stale') s.status = s.open_alerts.length > 0 ? 'alerting' : 'ok';
      changed = true;
    }
    if (changed) renderSensors();
  }

  function sectorOf(site) {
    const s = state.sites.find((x) => x.id === site);
    return s ? s.sector : '';
  }

  // ---- rendering ---------------------------------------------------------

  function levelBadge(level) {
    return el('span', `lvl-badge bg-${level}`, t(`level_${level}`));
  }

  function boardOrder(a, b) {
    if (a.level !== b.level) return a.level - b.level;
    const ta = new Date(a.starts_at).getTime();
    const tb = new Date(b.starts_at).getTime();
    if (ta !== tb) return tb - ta;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  function renderBoard() {
    const fresh = state.fresh;
    state.fresh = new Set();
    const alerts = Array.from(state.open.values()).sort(boardOrder);
    const tbody = $('board').tBodies[0];
    // Every event redraws the board; keep the comments being typed.
    const typed = new Map();
    let focused = '';
    for (const input of tbody.querySelectorAll('input.ack-comment')) {
      const id = input.closest('tr').dataset.id;
      if (input.value) typed.set(id, input.value);
      if (document.activeElement === input) focused = id;
    }
    const rows = [];
    for (const a of alerts) {
      const tr = el('tr', `lvl-${a.level} state-${a.state || 'open'}${a.lifecycle ? ` lc-${a.lifecycle}` : ''}${fresh.has(a.id) ? ' fresh' : ''}`);
      tr.dataset.state = a.state || 'open';
      tr.dataset.lifecycle = a.lifecycle || '';
      tr.dataset.id = a.id;
      tr.dataset.level = String(a.level);
      const lv = el('td');
      lv.appendChild(levelBadge(a.level));
      tr.appendChild(lv);
      tr.appendChild(el('td', 'id', siteName(a.site)));
      tr.appendChild(el('td', 'id', a.sensor));
      tr.appendChild(el('td', '', a.rule));
      tr.appendChild(el('td', 'num', fmtValue(a.value, a.unit)));
      tr.appendChild(el('td', 'num', fmtValue(a.setpoint, a.unit)));
      tr.appendChild(el('td', 'num', fmtTime(a.starts_at)));
      const dur = el('td', 'num duration', fmtDuration(a.starts_at));
      dur.dataset.since = a.starts_at;
      tr.appendChild(dur);
      const msg = el('td', '', a.message);
      if (a.lifecycle === 'resolved_unacknowledged' || a.lifecycle === 'latched') {
        msg.appendChild(el('span', 'lc-tag', t(`lc_${a.lifecycle}`)));
      }
      tr.appendChild(msg);
      const ack = el('td', 'ack', a.acknowledged ? `✓ ${a.acked_by || ''}` : '');
      if (a.acknowledged && a.ack_comment) ack.title = a.ack_comment;
      if (!a.acknowledged && canAck()) {
        const input = el('input', 'ack-comment');
        input.placeholder = t('ack_comment');
        input.maxLength = 500;
        input.value = typed.get(a.id) || '';
        const btn = el('button', 'ack-btn', t('ack'));
        btn.type = 'button';
        btn.addEventListener('click', () => {
          btn.disabled = true;
          acknowledge(a.id, input.value.trim(), ack).finally(() => { btn.disabled = false; });
        });
        ack.append(input, btn);
      } else if (!a.acknowledged) {
        ack.textContent = t('unacked');
      }
      tr.dataset.acknowledged = a.acknowledged ? 'true' : 'false';
      tr.appendChild(ack);
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    if (focused) {
      const input = tbody.querySelector(`tr[data-id="${CSS.escape(focused)}"] input.ack-comment`);
      if (input) input.focus();
    }
    $('board-empty').hidden = alerts.length > 0;
    renderCounts(alerts);
  }

  function renderCounts(alerts) {
    const n = [0, 0, 0, 0, 0];
    for (const a of alerts) if (a.level >= 1 && a.level <= 4) n[a.level]++;
    const chips = [];
    for (let lv = 1; lv <= 4; lv++) {
      const c = el('span', `chip bg-${lv}`, `${t(`level_${lv}`)} ${n[lv]}`);
      c.dataset.level = String(lv);
      chips.push(c);
    }
    $('counts').replaceChildren(...chips);
  }

  function siteName(id) {
    const s = state.sites.find((x) => x.id === id);
    return s && s.name ? s.name : id;
  }

  // worstBySite derives each site's worst level from the open alerts the
  // stream keeps current, so tiles change colour with the board.
  function worstBySite() {
    const worst = new Map();
    const count = new Map();
    for (const a of state.open.values()) {
      const w = worst.get(a.site);
      if (!w || a.level < w) worst.set(a.site, a.level);
      count.set(a.site, (count.get(a.site) || 0) + 1);
    }
    return { worst, count };
  }

  function renderSites() {
    const { worst, count } = worstBySite();
    const bySector = new Map();
    for (const s of state.sites) {
      const key = SECTORS.includes(s.sector) ? s.sector : 'other';
      if (!bySector.has(key)) bySector.set(key, []);
      bySector.get(key).push(s);
    }
    const groups = [];
    for (const sec of [...SECTORS, 'other']) {
      const sites = bySector.get(sec);
      if (!sites) continue;
      const g = el('div', 'sector');
      g.dataset.sector = sec;
      g.appendChild(el('h3', '', t(`sector_${sec}`)));
      const tiles = el('div', 'tiles');
      for (const s of sites) {
        const lv = worst.get(s.id) || 0;
        const b = el('button', `tile lvl-${lv}${state.selected === s.id ? ' selected' : ''}`);
        b.type = 'button';
        b.dataset.site = s.id;
        b.dataset.level = String(lv);
        b.appendChild(el('span', 'name', s.name || s.id));
        let meta = `${t(`level_${lv}`)} · ${count.get(s.id) || 0} ${t('open_alerts')}`;
        if (s.stale > 0) meta += ` · ${s.stale} ${t('stale')}`;
        b.appendChild(el('span', 'meta', meta));
        b.addEventListener('click', () => selectSite(s.id));
        tiles.appendChild(b);
      }
      g.appendChild(tiles);
      groups.push(g);
    }
    $('sites').replaceChildren(...groups);
  }

  function selectSite(id) {
    state.selected = state.selected === id ? null : id;
    state.sensors = [];
    $('site-detail').hidden = !state.selected;
    $('site-detail-name').textContent = state.selected ? siteName(state.selected) : '';
    renderSites();
    renderSensors();
    loadSensors().catch(() => setConn('offline'));
  }

  function renderSensors() {
    const rows = [];
    for (const s of state.sensors) {
      const tr = el('tr');
      tr.dataset.sensor = s.id;
      tr.appendChild(el('td', '', s.location ? `${s.id} (${s.location})` : s.id));
      tr.appendChild(el('td', '', s.kind_name || s.kind));
      tr.appendChild(el('td', 'num', fmtValue(s.value, s.unit)));
      const st = el('td');
      st.appendChild(el('span', `status status-${s.status}`, t(`status_${s.status}`)));
      tr.appendChild(st);
      const sp = el('td');
      for (const p of s.setpoints) {
        const dir = p.direction === 'below' ? t('dir_below') : t('dir_above');
        sp.appendChild(el('span', `sp lvl-badge bg-${p.level}`, `${dir}${fmtValue(p.value, '')}`));
      }
      tr.appendChild(sp);
      rows.push(tr);
    }
    $('sensor-rows').replaceChildren(...rows);
  }

  function showBanner(ev) {
    const b = $('banner');
    b.className = `banner lvl-${ev.level}`;
    b.dataset.alertId = ev.alert_id;
    $('banner-text').textContent =
      `${t(`level_${ev.level}`)} · ${siteName(ev.site)} / ${ev.sensor} · ${ev.rule} · ` +
      `${fmtValue(ev.value, ev.unit)} (${t(`type_${ev.type}`)}) ${ev.message || ''}`;
    b.hidden = false;
  }

  function applyLang() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    document.title = `riskmon · ${t('title')}`;
    $('lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
    renderWho();
    renderBoard();
    renderSites();
    renderSensors();
  }

  function tick() {
    const now = new Date();
    $('clock').textContent = now.toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
    for (const td of document.querySelectorAll('td.duration')) td.textContent = fmtDuration(td.dataset.since);
  }

  function init() {
    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem('riskmon.lang', state.lang);
      applyLang();
    });
    $('banner-close').addEventListener('click', () => { $('banner').hidden = true; });
    $('site-detail-close').addEventListener('click', () => selectSite(state.selected));
    applyLang();
    tick();
    window.setInterval(tick, 1000);
    // Staleness is a matter of time passing, which the stream does not
    // announce; refresh the site list and the open site now and then.
    window.setInterval(() => {
      loadSites().catch(() => {});
      loadSensors().catch(() => {});
    }, 30000);
    $('login-form').addEventListener('submit', (e) => { submitLogin(e).catch(() => {}); });
    $('logout').addEventListener('click', () => { logout().catch(() => {}); });
    start();
  }

  init();
})();
