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
      board: '当前报警',
      board_empty: '暂无报警',
      sites: '场所总览',
      close: '关闭',
      banner_new: '新报警',
      banner_close: '关闭',
      col_level: '级别 / 报警阶段', col_site: '场所', col_sensor: '测点', col_rule: '规则',
      col_value: '当前值 / 峰值 · 设定值', col_setpoint: '设定值', col_started: '开始时间', col_duration: '持续',
      col_message: '信息', col_ack: '确认', col_kind: '类型', col_status: '状态', col_setpoints: '报警设定',
      conn_live: '实时', conn_connecting: '连接中', conn_offline: '已断开',
      level_1: '红色', level_2: '橙色', level_3: '黄色', level_4: '蓝色', level_0: '正常',
      col_where: '位置', col_what: '报警内容 / 处置措施', col_since: '开始 / 持续',
      peak: '峰值', setpoint: '设定', procedure: '处置措施', consequence: '可能后果',
      silence: '消音', more_banners: '另有 {n} 条新报警未确认',
      sector_hazchem: '危险化学品', sector_coal: '煤矿', sector_noncoal: '非煤矿山',
      sector_pipeline: '油气管道', sector_urbangas: '城镇燃气', sector_other: '其他',
      status_ok: '正常', status_alerting: '报警', status_stale: '数据超时',
      open_alerts: '报警', stale: '超时', sensors: '测点',
      type_fired: '触发', type_escalated: '升级', type_deescalated: '降级', type_resolved: '解除', type_acknowledged: '已确认',
      dir_above: '≥', dir_below: '≤',
      h: '时', m: '分', s: '秒',
      logout: '退出', login_title: '登录', login_user: '用户名', login_password: '密码', login_submit: '登录',
      login_bad: '用户名或密码错误', login_limited: '尝试次数过多，请稍后再试', login_failed: '登录失败',
      ack: '确认', ack_comment: '备注', ack_comment_hint: '备注（可选），随确认记录', ack_failed: '确认失败', unacked: '未确认',
      role_viewer: '查看员', role_operator: '操作员', role_admin: '管理员',
      lc_resolved_unacknowledged: '已解除 未确认', lc_latched: '锁定 待确认',
      nav_board: '报警看板', nav_health: '报警系统健康', back: '返回',
      sound_on: '声音 开', sound_off: '声音 关',
      badge_shelved: '已搁置', badge_planned: '计划性', badge_flapping: '抖动', badge_late: '补报',
      shelve: '搁置', shelve_reason: '原因（必填）', shelve_duration: '时长', shelve_mode: '方式',
      mode_shelved: '搁置', mode_out_of_service: '停用检修', shelve_submit: '确定', cancel: '取消',
      shelve_failed: '搁置失败', shelve_need_reason: '请填写原因', end_failed: '结束失败', forbidden: '无此权限',
      refused_admin_scope: '搁置多于一条报警需管理员权限（操作员只能按单条报警搁置）',
      refused_admin_oos: '停用检修需管理员权限', refused_admin_red: '搁置红色报警需管理员权限',
      refused_unknown_scope: '场所、测点或类型不在登记表中', refused_wildcard: '不支持通配符“*”',
      refused_empty_match: '请指明搁置范围', refused_sensor_site: '测点须指明所属场所', refused_reason: '请填写原因',
      refused_by: '缺少操作人', refused_duration: '请选择有效时长', refused_too_long: '时长超过该方式的上限',
      refused_mode: '搁置方式无效', refused_body: '请求格式错误', refused_reason_long: '原因过长',
      shelved_group: '已搁置 / 停用检修', shelves: '搁置与停用', shelves_empty: '无',
      col_mode: '方式', col_match: '范围', col_reason: '原因', col_by: '操作人', col_expires: '到期', end_shelf: '结束',
      chart_last_hour: '最近1小时', no_data: '最近1小时无数据', no_store: '未配置读数存储，无法绘图', store_failed: '读取数据失败',
      rules_title: '报警规则', rules_rule: '规则', rules_kind: '类型', rules_levels: '级别', rules_settings: '设定',
      rules_source: '来源', rules_none: '无法读取规则', rules_off: '已关闭', rules_builtin: '内置',
      rule_threshold: '限值', rule_rate: '变化率', rule_trend: '趋势', rule_forecast: '预测', rule_stuck: '数值冻结',
      rule_jump: '跳变', rule_stale: '无数据', rule_exposure: '接触限值', rule_group: '组合', rule_composite: '复合',
      rules_for: '延时', rules_off_delay: '恢复延时', rules_window: '窗口', rules_restore: '恢复',
      timeline: '报警时间线', timeline_empty: '最近1小时无报警事件', legend_mean: '均值', legend_range: '最小–最大',
      health_title: '报警系统健康（ISA-18.2）', h_rate: '每10分钟报警数（24小时）', h_flood_line: '泛滥线',
      h_last10: '最近10分钟', h_per_op: '每名操作员10分钟', h_shelved: '已搁置', h_oos: '停用检修', h_flapping: '抖动保持', h_avg10: '平均每10分钟', h_flood: '报警泛滥', h_flood_on: '进行中', h_flood_off: '无',
      h_floods: '泛滥次数', h_flood_time: '泛滥时长', h_standing: '当前报警', h_stale: '陈旧（超过24小时）',
      h_chattering: '抖动报警', h_top_rules: '报警最多的规则', h_top_sensors: '报警最多的测点', h_none: '无',
    },
    en: {
      title: 'Hazard monitoring console',
      board: 'Open alarms',
      board_empty: 'No open alarms',
      sites: 'Sites',
      close: 'Close',
      banner_new: 'New alarm',
      banner_close: 'Dismiss',
      col_level: 'Level / stage', col_site: 'Site', col_sensor: 'Sensor', col_rule: 'Rule',
      col_value: 'Live / peak · setpoint', col_setpoint: 'Setpoint', col_started: 'Started', col_duration: 'For',
      col_message: 'Message', col_ack: 'Ack', col_kind: 'Kind', col_status: 'Status', col_setpoints: 'Setpoints',
      conn_live: 'Live', conn_connecting: 'Connecting', conn_offline: 'Offline',
      level_1: 'Red', level_2: 'Orange', level_3: 'Yellow', level_4: 'Blue', level_0: 'OK',
      col_where: 'Where', col_what: 'Alarm / what to do', col_since: 'Since / for',
      peak: 'peak', setpoint: 'set', procedure: 'What to do', consequence: 'Consequence',
      silence: 'Silence', more_banners: '{n} more new alarms not acknowledged',
      sector_hazchem: 'Hazardous chemicals', sector_coal: 'Coal mines', sector_noncoal: 'Non-coal mines',
      sector_pipeline: 'Oil & gas pipelines', sector_urbangas: 'Urban gas', sector_other: 'Other',
      status_ok: 'OK', status_alerting: 'Alerting', status_stale: 'Stale',
      open_alerts: 'alarms', stale: 'stale', sensors: 'sensors',
      type_fired: 'fired', type_escalated: 'escalated', type_deescalated: 'de-escalated', type_resolved: 'resolved', type_acknowledged: 'acknowledged',
      dir_above: '≥', dir_below: '≤',
      h: 'h', m: 'm', s: 's',
      logout: 'Log out', login_title: 'Log in', login_user: 'User', login_password: 'Password', login_submit: 'Log in',
      login_bad: 'Wrong user name or password', login_limited: 'Too many attempts; wait and try again', login_failed: 'Login failed',
      ack: 'Ack', ack_comment: 'note', ack_comment_hint: 'note (optional), kept with the acknowledgement', ack_failed: 'Ack failed', unacked: 'unacked',
      role_viewer: 'viewer', role_operator: 'operator', role_admin: 'admin',
      lc_resolved_unacknowledged: 'resolved, unacked', lc_latched: 'latched',
      nav_board: 'Board', nav_health: 'Alarm health', back: 'Back',
      sound_on: 'Sound on', sound_off: 'Sound off',
      badge_shelved: 'shelved', badge_planned: 'planned', badge_flapping: 'flapping', badge_late: 'retrospective',
      shelve: 'Shelve', shelve_reason: 'reason (required)', shelve_duration: 'for', shelve_mode: 'mode',
      mode_shelved: 'shelve', mode_out_of_service: 'out of service', shelve_submit: 'OK', cancel: 'Cancel',
      shelve_failed: 'Shelve failed', shelve_need_reason: 'Give a reason', end_failed: 'End failed', forbidden: 'not permitted',
      refused_admin_scope: 'shelving more than one alarm needs an admin (an operator shelves one alarm)',
      refused_admin_oos: 'out of service needs an admin', refused_admin_red: 'shelving a red alarm needs an admin',
      refused_unknown_scope: 'site, sensor or kind not in the registry', refused_wildcard: '"*" is not a wildcard',
      refused_empty_match: 'name what to shelve', refused_sensor_site: 'a sensor needs its site', refused_reason: 'give a reason',
      refused_by: 'no user named', refused_duration: 'choose a valid duration', refused_too_long: 'longer than the maximum for this mode',
      refused_mode: 'unknown mode', refused_body: 'malformed request', refused_reason_long: 'reason too long',
      shelved_group: 'Shelved / out of service', shelves: 'Shelved and out of service', shelves_empty: 'none',
      col_mode: 'Mode', col_match: 'Applies to', col_reason: 'Reason', col_by: 'By', col_expires: 'Until', end_shelf: 'End',
      chart_last_hour: 'Last hour', no_data: 'No readings in the last hour', no_store: 'No reading store configured: no chart', store_failed: 'Could not read the readings',
      rules_title: 'Alarm rules', rules_rule: 'Rule', rules_kind: 'Type', rules_levels: 'Levels', rules_settings: 'Settings',
      rules_source: 'Source', rules_none: 'The rules cannot be read', rules_off: 'off', rules_builtin: 'built-in',
      rule_threshold: 'threshold', rule_rate: 'rate', rule_trend: 'trend', rule_forecast: 'forecast', rule_stuck: 'stuck',
      rule_jump: 'jump', rule_stale: 'no data', rule_exposure: 'exposure limit', rule_group: 'group', rule_composite: 'composite',
      rules_for: 'on-delay', rules_off_delay: 'off-delay', rules_window: 'window', rules_restore: 'restore',
      timeline: 'Alarm timeline', timeline_empty: 'No alarm events in the last hour', legend_mean: 'mean', legend_range: 'min–max',
      health_title: 'Alarm system health (ISA-18.2)', h_rate: 'Alarms per 10 minutes (24 h)', h_flood_line: 'flood line',
      h_last10: 'last 10 min', h_per_op: 'per operator, 10 min', h_shelved: 'shelved', h_oos: 'out of service', h_flapping: 'held flapping', h_avg10: 'average per 10 min', h_flood: 'flood', h_flood_on: 'on', h_flood_off: 'no',
      h_floods: 'floods', h_flood_time: 'time in flood', h_standing: 'standing', h_stale: 'stale (over 24 h)',
      h_chattering: 'Chattering', h_top_rules: 'Top rules', h_top_sensors: 'Top sensors', h_none: 'none',
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
    features: {},        // GET /api/v1/features: shelve, health, series, ack
    shelves: [],         // GET /api/v1/shelves: the active shelves
    shelveFor: '',       // alert id whose shelve form is open
    shelveDraft: { reason: '', duration: '2h', mode: 'shelved' },
    shelveError: '',
    view: 'main',        // main, sensor or health, from the location hash
    page: null,          // the sensor page: { site, sensor }
    // Sound is on unless this console turned it off: an alarm nobody
    // hears is an alarm nobody sees on a wall screen.
    sound: localStorage.getItem('riskmon.sound') !== 'off',
    audio: null,         // AudioContext, made on the first user gesture
    beeps: 0,
    silenced: new Set(), // "id:level" of the alarms silenced on this console
    banners: new Map(),  // alert id -> time it was announced, until acknowledged or closed
    dismissed: new Set(), // alert ids whose banner was closed on this console
  };

  const $ = (id) => document.getElementById(id);
  const t = (key) => I18N[state.lang][key] || I18N.zh[key] || key;
  // tx is an alert's (or sensor's) text in the chosen language, as the
  // server renders it; alerts from before an upgrade may lack it.
  const tx = (a) => (a && a.text && (a.text[state.lang] || a.text.zh)) || {};

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

  // fmtSince is a start time as short as it can be read: the time alone
  // today, the day and minute before.
  function fmtSince(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, '0');
    if (d.toDateString() === new Date().toDateString()) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
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

  // del ends something, with the CSRF token like post.
  function del(path) {
    const headers = { Accept: 'application/json' };
    if (state.me && state.me.csrf) headers['X-CSRF-Token'] = state.me.csrf;
    return fetch(path, { method: 'DELETE', headers });
  }

  function canAck() {
    return Boolean(state.me && (state.me.role === 'operator' || state.me.role === 'admin'));
  }

  function isAdmin() {
    return Boolean(state.me && state.me.role === 'admin');
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
    cell.appendChild(el('span', 'ack-error', ` ${t('ack_failed')}${res && res.status === 403 ? `${state.lang === 'en' ? ': ' : '：'}${t('forbidden')}` : res ? ` (${res.status})` : ''}`));
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
    // A console opened (or reconnected) during an incident shows the
    // banners of the red and orange alarms nobody has acknowledged yet.
    for (const a of open.values()) {
      if (a.state !== 'resolved' && !a.acknowledged && a.level >= 1 && a.level <= 2 && !a.late &&
          !state.dismissed.has(a.id) && !state.banners.has(a.id)) {
        state.banners.set(a.id, Date.parse(a.updated_at) || 0);
      }
    }
    renderBoard();
    // Says the board holds the loaded state, not just what the stream
    // brought so far (tests wait for it).
    $('board').dataset.loaded = 'true';
    renderSites();
  }

  async function loadFeatures() {
    state.features = await getJSON('api/v1/features');
    $('nav-health').hidden = !state.features.health;
    $('shelves-panel').hidden = !state.features.shelve;
  }

  async function loadShelves() {
    if (!state.features.shelve) return;
    const body = await getJSON('api/v1/shelves');
    state.shelves = body.shelves || [];
    renderShelves();
    renderBoard();
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
      await Promise.all([loadFeatures(), loadAlerts(), loadSites(), loadSensors()]);
      await loadShelves();
      if (state.view === 'sensor') loadSensorPage().catch(() => {});
      if (state.view === 'health') loadHealth().catch(() => {});
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
    // A shelf was set or ended from some console.
    es.addEventListener('shelves', () => { loadShelves().catch(() => {}); });
  }

  function setConn(s) {
    const c = $('conn');
    c.className = `conn conn-${s}`;
    c.dataset.i18n = `conn_${s}`;
    c.textContent = t(`conn_${s}`);
  }

  function applyEvent(ev, live) {
    if (ev.type === 'acknowledged') {
      // Acknowledged: its banner has done its job.
      if (state.banners.delete(ev.alert_id)) renderBanners();
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
        if (state.banners.delete(ev.alert_id)) renderBanners();
      } else {
        // Stays until acknowledged; ask whether it latched.
        a.state = 'resolved';
        a.lifecycle = 'resolved_unacknowledged';
        a.message = ev.message;
        if (ev.text) a.text = ev.text;
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
        text: ev.text || (prev && prev.text), location: ev.location || (prev && prev.location) || '',
        // The live value keeps coming with the readings; the peak is
        // the worst of what the server counted and this event.
        live_value: prev && prev.live_value !== undefined ? prev.live_value : ev.value,
        live_at: prev ? prev.live_at : ev.at,
        peak_value: worse(ev.rule, prev && prev.peak_value !== undefined ? prev.peak_value : ev.value, ev.value),
        starts_at: ev.starts_at || (prev && prev.starts_at) || ev.at, updated_at: ev.at,
        sector: prev ? prev.sector : sectorOf(ev.site),
        // A worse level needs acknowledging again.
        acknowledged: ev.type === 'escalated' ? false : Boolean(prev && prev.acknowledged),
        acked_by: ev.type === 'escalated' ? '' : (prev && prev.acked_by) || '',
        acked_at: ev.type === 'escalated' ? '' : (prev && prev.acked_at) || '',
        ack_comment: ev.type === 'escalated' ? '' : (prev && prev.ack_comment) || '',
      });
      const cur = state.open.get(ev.alert_id);
      cur.shelved = ev.shelved || '';
      cur.planned = Boolean(ev.planned);
      cur.flapping = Boolean(ev.flapping);
      cur.late = Boolean(ev.late);
      // Shelved, planned and retrospective alerts are recorded, not
      // announced: nobody needs to look up for them now.
      if (live && (ev.type === 'fired' || ev.type === 'escalated') && ev.level >= 1 && ev.level <= 2 &&
          !ev.late && !setAside(cur)) {
        state.banners.set(ev.alert_id, Date.now());
        renderBanners();
        beep(ev.level);
      }
    }
    if (ev.type !== 'resolved') state.fresh.add(ev.alert_id);
    scheduleRender(state.selected === ev.site);
    if (state.view === 'sensor' && state.page && state.page.site === ev.site && state.page.sensor === ev.sensor) {
      loadSensorEvents().catch(() => {});
    }
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

  // worse is the worse of two values for the alarm's rule: the lower for
  // a low alarm, else the higher.
  function worse(rule, a, b) {
    if (a === undefined || a === null) return b;
    return String(rule || '').endsWith('_low') ? Math.min(a, b) : Math.max(a, b);
  }

  // applyBoardReadings moves the live value and the peak of the open
  // alarms of the sensors that reported. The cells change in place: a
  // redraw every second could swallow a click on a row's button.
  function applyBoardReadings(list) {
    const bySensor = new Map();
    for (const a of state.open.values()) {
      if (a.state === 'resolved') continue;
      const k = `${a.site}\u0000${a.sensor}`;
      if (!bySensor.has(k)) bySensor.set(k, []);
      bySensor.get(k).push(a);
    }
    if (bySensor.size === 0) return;
    for (const r of list) {
      for (const a of bySensor.get(`${r.site}\u0000${r.sensor}`) || []) {
        a.live_value = r.value;
        a.live_at = r.at;
        a.peak_value = worse(a.rule, a.peak_value, r.value);
        const tr = $('board').querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
        if (tr) fillValue(tr.querySelector('td.c-value'), a);
      }
    }
  }

  function applyReadings(list) {
    applyBoardReadings(list);
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

  function levelBadge(level, text) {
    return el('span', `lvl-badge bg-${level}`, text || t(`level_${level}`));
  }

  // fillValue writes the live value, then the peak and the setpoint.
  function fillValue(td, a) {
    const x = tx(a);
    if (!a.kind) {
      // A gateway's or the system's alarm: no reading to show.
      td.replaceChildren(el('div', 'line live', '—'));
      td.title = '';
      return;
    }
    const unit = x.unit !== undefined ? x.unit : a.unit;
    const live = a.live_value !== undefined && a.live_value !== null ? a.live_value : a.value;
    const main = el('div', 'line live', fmtValue(live, unit));
    const sub = el('div', 'sub');
    const peak = a.peak_value !== undefined && a.peak_value !== null ? a.peak_value : a.value;
    sub.textContent = `${t('peak')} ${fmtValue(peak, '')} · ${t('setpoint')} ${fmtValue(a.setpoint, '')}`;
    td.replaceChildren(main, sub);
    td.title = `${fmtValue(live, unit)} · ${t('peak')} ${fmtValue(peak, unit)} · ${t('setpoint')} ${fmtValue(a.setpoint, unit)}`;
  }

  function boardOrder(a, b) {
    if (a.level !== b.level) return a.level - b.level;
    const ta = new Date(a.starts_at).getTime();
    const tb = new Date(b.starts_at).getTime();
    if (ta !== tb) return tb - ta;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  // shelfFor is the active shelf covering an alert: every non-empty field
  // of its matcher equals the alert's. The server marks events raised
  // under a shelf; matching here too moves an alert that was open before
  // the shelf was set at once.
  function shelfFor(a) {
    const now = Date.now();
    for (const sh of state.shelves) {
      if (sh.expires && Date.parse(sh.expires) <= now) continue;
      // Only an admin's shelf covers a red alarm; any other lets it
      // through to the notifiers, so the board must keep it active too.
      if (a.level === 1 && !sh.covers_red) continue;
      const m = sh.match || {};
      if ((!m.site || m.site === a.site) && (!m.sensor || m.sensor === a.sensor) &&
          (!m.rule || m.rule === a.rule) && (!m.kind || m.kind === a.kind)) return sh;
    }
    return null;
  }

  // activeShelf reports whether the shelf of that id is still in force.
  function activeShelf(id) {
    const now = Date.now();
    return state.shelves.some((sh) => sh.id === id && !(sh.expires && Date.parse(sh.expires) <= now));
  }

  // setAside says an alert goes below the active ones: shelved, or of a
  // sensor out of service (planned), while that shelf is in force. Once it
  // ends, an alert still standing returns to the board even before its
  // next event clears the mark.
  function setAside(a) {
    return Boolean((a.shelved && activeShelf(a.shelved)) || shelfFor(a));
  }

  // badges are the alert's marks; matchShelves adds those of a shelf set
  // after its last event.
  function badges(a, matchShelves) {
    const out = [];
    const sh = matchShelves === false ? null : shelfFor(a);
    if (a.shelved || (sh && sh.mode === 'shelved')) out.push(el('span', 'badge badge-shelved', t('badge_shelved')));
    if (a.planned || (sh && sh.mode === 'out_of_service')) out.push(el('span', 'badge badge-planned', t('badge_planned')));
    if (a.flapping) out.push(el('span', 'badge badge-flapping', t('badge_flapping')));
    if (a.late) out.push(el('span', 'badge badge-late', t('badge_late')));
    return out;
  }

  function renderBoard() {
    const fresh = state.fresh;
    state.fresh = new Set();
    const all = Array.from(state.open.values()).sort(boardOrder);
    const active = all.filter((a) => !setAside(a));
    const aside = all.filter((a) => setAside(a));
    const tbody = $('board').tBodies[0];
    // Every event redraws the board; keep the comments being typed.
    const typed = new Map();
    let focused = '';
    for (const input of tbody.querySelectorAll('input.ack-comment')) {
      const id = input.closest('tr').dataset.id;
      if (input.value) typed.set(id, input.value);
      if (document.activeElement === input) focused = id;
    }
    const focusShelve = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest('.shelve-form') ? document.activeElement.name : '';
    const rows = [];
    for (const a of active) rows.push(...boardRows(a, fresh, typed, false));
    if (aside.length > 0) {
      const g = el('tr', 'group-row');
      const td = el('td', '', `${t('shelved_group')} · ${aside.length}`);
      td.colSpan = 6;
      g.appendChild(td);
      rows.push(g);
      for (const a of aside) rows.push(...boardRows(a, fresh, typed, true));
    }
    tbody.replaceChildren(...rows);
    if (focused) {
      const input = tbody.querySelector(`tr[data-id="${CSS.escape(focused)}"] input.ack-comment`);
      if (input) input.focus();
    }
    if (focusShelve) {
      const input = tbody.querySelector(`.shelve-form [name="${CSS.escape(focusShelve)}"]`);
      if (input) input.focus();
    }
    $('board-empty').hidden = all.length > 0;
    renderCounts(active);
    // A shelved, acknowledged or vanished alarm loses its banner.
    renderBanners();
  }

  // boardRows is an alert's row, and its shelve form when open.
  function boardRows(a, fresh, typed, aside) {
    const tr = el('tr', `lvl-${a.level} state-${a.state || 'open'}${a.lifecycle ? ` lc-${a.lifecycle}` : ''}${fresh.has(a.id) ? ' fresh' : ''}${aside ? ' aside' : ''}`);
    tr.dataset.state = a.state || 'open';
    tr.dataset.lifecycle = a.lifecycle || '';
    tr.dataset.id = a.id;
    tr.dataset.level = String(a.level);
    tr.dataset.group = aside ? 'shelved' : 'active';
    const x = tx(a);
    // Every cell is two short lines at most, each ending in an ellipsis
    // when the column is too narrow; the full texts are the tooltips.
    const lv = el('td', 'c-level');
    lv.appendChild(levelBadge(a.level, x.level));
    const stage = el('div', 'sub stage', x.stage || '');
    lv.appendChild(stage);
    lv.title = x.label || '';
    tr.appendChild(lv);
    const where = el('td', 'c-where');
    where.appendChild(el('div', 'line site-name', siteName(a.site)));
    const wsub = el('div', 'sub');
    const link = el('a', 'sensor-link', a.sensor);
    link.href = sensorHash(a.site, a.sensor);
    wsub.appendChild(link);
    if (a.location) wsub.appendChild(document.createTextNode(` · ${a.location}`));
    where.appendChild(wsub);
    where.title = `${siteName(a.site)} / ${a.sensor}${a.location ? ` · ${a.location}` : ''}`;
    tr.appendChild(where);
    const what = el('td', 'c-what');
    const line = el('div', 'line');
    // The marks first, so they are never cut off.
    for (const b of badges(a)) line.appendChild(b);
    if (a.lifecycle === 'resolved_unacknowledged' || a.lifecycle === 'latched') {
      line.appendChild(el('span', 'lc-tag', t(`lc_${a.lifecycle}`)));
    }
    line.appendChild(el('span', 'what', x.what || a.rule));
    line.appendChild(el('span', 'msg-text', x.message || a.message));
    what.appendChild(line);
    what.appendChild(el('div', 'sub procedure', x.procedure || ''));
    what.title = [x.what, x.message, x.procedure && `${t('procedure')}：${x.procedure}`,
      x.consequence && `${t('consequence')}：${x.consequence}`].filter(Boolean).join('\n');
    tr.appendChild(what);
    const val = el('td', 'c-value num');
    fillValue(val, a);
    tr.appendChild(val);
    const since = el('td', 'c-since num');
    since.appendChild(el('div', 'line', fmtSince(a.starts_at)));
    since.title = fmtTime(a.starts_at);
    const dur = el('div', 'sub duration', fmtDuration(a.starts_at));
    dur.dataset.since = a.starts_at;
    since.appendChild(dur);
    tr.appendChild(since);
    const ack = el('td', 'ack c-ack', a.acknowledged ? `✓ ${a.acked_by || ''}` : '');
    if (a.acknowledged && a.ack_comment) ack.title = a.ack_comment;
    if (!a.acknowledged && canAck()) {
      const input = el('input', 'ack-comment');
      // The column is narrow: a short placeholder, the whole hint on hover.
      input.placeholder = t('ack_comment');
      input.title = t('ack_comment_hint');
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
    // An operator may shelve one alarm that is not red; a red one, wider
    // scopes and out-of-service are an admin's (the server refuses them).
    if (canAck() && state.features.shelve && !aside && a.state !== 'resolved' &&
        (isAdmin() || a.level !== 1)) {
      const sb = el('button', 'shelve-btn', t('shelve'));
      sb.type = 'button';
      sb.addEventListener('click', () => {
        state.shelveFor = state.shelveFor === a.id ? '' : a.id;
        state.shelveError = '';
        renderBoard();
      });
      ack.appendChild(sb);
    }
    tr.dataset.acknowledged = a.acknowledged ? 'true' : 'false';
    tr.appendChild(ack);
    if (state.shelveFor !== a.id || aside) return [tr];
    return [tr, shelveRow(a)];
  }

  // shelveRow is the form under an alert: the matcher (this site, sensor
  // and rule), the mode, how long, and why.
  function shelveRow(a) {
    const tr = el('tr', 'shelve-row');
    tr.dataset.for = a.id;
    const td = el('td');
    td.colSpan = 6;
    const form = el('form', 'shelve-form');
    const m = el('span', 'shelve-match', `${siteName(a.site)} / ${a.sensor} / ${tx(a).what || a.rule}`);
    m.title = a.rule;
    form.appendChild(m);
    const d = state.shelveDraft;
    const mode = el('select');
    mode.name = 'mode';
    mode.title = t('shelve_mode');
    if (!isAdmin()) d.mode = 'shelved';
    for (const m of isAdmin() ? ['shelved', 'out_of_service'] : ['shelved']) {
      const o = el('option', '', t(`mode_${m}`));
      o.value = m;
      o.selected = d.mode === m;
      mode.appendChild(o);
    }
    const dur = el('select');
    dur.name = 'duration';
    dur.title = t('shelve_duration');
    // Shelving is for a shift at most (alerting caps it at 8 h); out of
    // service may last a maintenance week.
    const choices = d.mode === 'out_of_service' ? ['1h', '4h', '8h', '24h', '72h', '168h'] : ['30m', '1h', '2h', '4h', '8h'];
    if (!choices.includes(d.duration)) d.duration = d.mode === 'out_of_service' ? '8h' : '2h';
    for (const v of choices) {
      const o = el('option', '', durLabel(v));
      o.value = v;
      o.selected = d.duration === v;
      dur.appendChild(o);
    }
    const reason = el('input', 'shelve-reason');
    reason.name = 'reason';
    reason.placeholder = t('shelve_reason');
    reason.maxLength = 500;
    reason.value = d.reason;
    for (const f of [mode, dur, reason]) f.addEventListener('input', () => { d[f.name] = f.value; });
    mode.addEventListener('change', () => { d.mode = mode.value; renderBoard(); });
    const ok = el('button', 'shelve-submit', t('shelve_submit'));
    ok.type = 'submit';
    const cancel = el('button', 'shelve-cancel', t('cancel'));
    cancel.type = 'button';
    cancel.addEventListener('click', () => { state.shelveFor = ''; renderBoard(); });
    form.append(mode, dur, reason, ok, cancel);
    if (state.shelveError) form.appendChild(el('span', 'ack-error', state.shelveError));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      ok.disabled = true;
      shelve(a).finally(() => { ok.disabled = false; });
    });
    td.appendChild(form);
    tr.appendChild(td);
    return tr;
  }

  function durLabel(v) {
    const n = parseInt(v, 10);
    const days = v.endsWith('h') && n >= 72 && n % 24 === 0;
    if (state.lang === 'zh') return days ? `${n / 24}天` : v.replace('m', '分钟').replace('h', '小时');
    return days ? `${n / 24} d` : v.replace('m', ' min').replace('h', ' h');
  }

  async function shelve(a) {
    const d = state.shelveDraft;
    if (!d.reason.trim()) {
      state.shelveError = t('shelve_need_reason');
      renderBoard();
      return;
    }
    const res = await post('api/v1/shelves', {
      mode: d.mode, match: { site: a.site, sensor: a.sensor, rule: a.rule }, reason: d.reason.trim(), duration: d.duration,
    }).catch(() => null);
    if (res && res.ok) {
      state.shelveFor = '';
      state.shelveError = '';
      d.reason = '';
      await loadShelves().catch(() => {});
      renderBoard();
      return;
    }
    if (res && res.status === 401) showLogin();
    state.shelveError = `${t('shelve_failed')}${await refusalText(res)}`;
    renderBoard();
  }

  // refusalText says why a request was refused, in the console's
  // language: the server sends a code per reason beside its English text
  // (codes), and the text itself is shown only in English.
  async function refusalText(res) {
    if (!res) return '';
    const body = await res.json().catch(() => null);
    const known = ((body && body.codes) || []).filter((c) => I18N[state.lang][`refused_${c}`]);
    const sep = state.lang === 'en' ? ': ' : '：';
    if (known.length) return sep + known.map((c) => t(`refused_${c}`)).join(state.lang === 'en' ? '; ' : '；');
    if (res.status === 403) return sep + t('forbidden');
    if (state.lang === 'en' && body && body.error) return sep + body.error;
    return ` (${res.status})`;
  }

  // matchText is a shelf's scope in words: the server names its rule and
  // kind in both languages (text.zh, text.en), whether or not an alarm of
  // that rule is on the board.
  function matchText(sh) {
    const m = sh.match || {};
    const words = tx(sh);
    const parts = [];
    if (m.site) parts.push(siteName(m.site));
    if (m.sensor) parts.push(m.sensor);
    if (m.rule) parts.push(words.rule || m.rule);
    if (m.kind) parts.push(words.kind || m.kind);
    return parts.join(' / ');
  }

  function renderShelves() {
    const rows = [];
    for (const sh of state.shelves) {
      const tr = el('tr', `shelf mode-${sh.mode}`);
      tr.dataset.id = sh.id;
      tr.appendChild(el('td', '', t(`mode_${sh.mode}`)));
      tr.appendChild(el('td', 'id', matchText(sh)));
      tr.appendChild(el('td', '', sh.reason));
      tr.appendChild(el('td', 'id', sh.by));
      tr.appendChild(el('td', 'num', fmtTime(sh.expires)));
      const act = el('td');
      if (canAck()) {
        const b = el('button', 'end-shelf', t('end_shelf'));
        b.type = 'button';
        b.addEventListener('click', () => {
          b.disabled = true;
          endShelf(sh.id, act).finally(() => { b.disabled = false; });
        });
        act.appendChild(b);
      }
      tr.appendChild(act);
      rows.push(tr);
    }
    $('shelves').tBodies[0].replaceChildren(...rows);
    $('shelves-empty').hidden = rows.length > 0;
  }

  async function endShelf(id, cell) {
    const res = await del(`api/v1/shelves/${encodeURIComponent(id)}`).catch(() => null);
    if (res && (res.ok || res.status === 404)) {
      await loadShelves().catch(() => {});
      return;
    }
    if (res && res.status === 401) showLogin();
    cell.appendChild(el('span', 'ack-error', ` ${t('end_failed')}${res && res.status === 403 ? `${state.lang === 'en' ? ': ' : '：'}${t('forbidden')}` : res ? ` (${res.status})` : ''}`));
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
    updateSilence();
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
        b.title = s.name || s.id;
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
      const name = el('td');
      const link = el('a', 'sensor-link', s.id);
      link.href = sensorHash(state.selected, s.id);
      name.appendChild(link);
      if (s.location) name.appendChild(document.createTextNode(` (${s.location})`));
      tr.appendChild(name);
      const x = tx(s);
      tr.appendChild(el('td', '', x.kind || s.kind_name || s.kind));
      tr.appendChild(el('td', 'num', fmtValue(s.value, x.unit !== undefined ? x.unit : s.unit)));
      const st = el('td');
      st.appendChild(el('span', `status status-${s.status}`, t(`status_${s.status}`)));
      tr.appendChild(st);
      const sp = el('td');
      for (const p of s.setpoints) {
        const dir = p.direction === 'below' ? t('dir_below') : t('dir_above');
        const chip = el('span', `sp lvl-badge bg-${p.level}`, `${dir}${fmtValue(p.value, '')}`);
        const stage = p.stage ? (state.lang === 'en' ? p.stage.en : p.stage.zh) : '';
        chip.title = `${t(`level_${p.level}`)}${stage ? ` · ${stage}` : ''}`;
        sp.appendChild(chip);
      }
      tr.appendChild(sp);
      rows.push(tr);
    }
    $('sensor-rows').replaceChildren(...rows);
  }

  // ---- sound ---------------------------------------------------------------

  // How often a red or orange alarm nobody acknowledged sounds again. A
  // console may set its own (localStorage riskmon.sound.repeat_ms).
  const REPEAT_MS = Math.max(1000, Number(localStorage.getItem('riskmon.sound.repeat_ms')) || 10000);

  // sounding are the alarms that keep a console sounding: red and orange,
  // active, unacknowledged, neither shelved nor retrospective.
  function sounding() {
    return Array.from(state.open.values()).filter((a) => a.state !== 'resolved' && !a.acknowledged &&
      a.level >= 1 && a.level <= 2 && !a.late && !setAside(a));
  }

  function loud() {
    return sounding().filter((a) => !state.silenced.has(`${a.id}:${a.level}`));
  }

  // soundTick repeats the sound while an alarm is loud: not acknowledged
  // and not silenced on this console.
  function soundTick() {
    const l = loud();
    updateSilence(l);
    if (l.length > 0) beep(Math.min(...l.map((a) => a.level)));
  }

  function updateSilence(l) {
    $('silence').hidden = !state.sound || (l || loud()).length === 0;
  }

  // silence quiets the alarms sounding now, on this console only; a new
  // alarm, or one of them escalating, sounds again.
  function silence() {
    for (const a of sounding()) state.silenced.add(`${a.id}:${a.level}`);
    updateSilence();
    document.body.dataset.silenced = String(state.silenced.size);
  }

  // The beep is made, not loaded: a console on an isolated network has no
  // sound files to fetch, and an oscillator needs none.
  function audioCtx() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!state.audio) state.audio = new Ctx();
    // Browsers start audio suspended until the user did something on the
    // page; every click gives it another chance.
    if (state.audio.state === 'suspended') state.audio.resume().catch(() => {});
    return state.audio;
  }

  // beep sounds for a new level-1 (three high beeps) or level-2 (two
  // lower ones) alert, when the operator turned sound on.
  function beep(level) {
    if (!state.sound) return;
    const ctx = audioCtx();
    if (!ctx) return;
    const n = level === 1 ? 3 : 2;
    const freq = level === 1 ? 880 : 660;
    const t0 = ctx.currentTime + 0.02;
    for (let i = 0; i < n; i++) {
      const at = t0 + i * 0.28;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.15, at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.22);
    }
    state.beeps++;
    document.body.dataset.beeps = String(state.beeps);
  }

  function renderSound() {
    const b = $('sound');
    const key = state.sound ? 'sound_on' : 'sound_off';
    b.dataset.i18n = key;
    b.textContent = t(key);
    b.setAttribute('aria-pressed', String(state.sound));
    b.classList.toggle('on', state.sound);
  }

  function toggleSound() {
    state.sound = !state.sound;
    localStorage.setItem('riskmon.sound', state.sound ? 'on' : 'off');
    if (state.sound) audioCtx(); // this click is the gesture that unlocks audio
    renderSound();
    updateSilence();
  }

  // ---- views -------------------------------------------------------------

  function sensorHash(site, sensor) {
    return `#sensor/${encodeURIComponent(site)}/${encodeURIComponent(sensor)}`;
  }

  // route shows the view the location hash names: #sensor/SITE/SENSOR,
  // #health, or the board.
  function route() {
    const h = window.location.hash.replace(/^#/, '');
    const parts = h.split('/');
    if (parts[0] === 'sensor' && parts.length === 3) {
      state.view = 'sensor';
      state.page = { site: decodeURIComponent(parts[1]), sensor: decodeURIComponent(parts[2]) };
    } else if (h === 'health') {
      state.view = 'health';
    } else {
      state.view = 'main';
    }
    $('view-main').hidden = state.view !== 'main';
    $('view-sensor').hidden = state.view !== 'sensor';
    $('view-health').hidden = state.view !== 'health';
    $('nav-board').classList.toggle('current', state.view === 'main');
    $('nav-health').classList.toggle('current', state.view === 'health');
    if (!state.me) return; // loaded after the login
    if (state.view === 'sensor') {
      $('sensor-chart').replaceChildren();
      $('sensor-timeline').replaceChildren();
      loadSensorPage().catch(() => {});
    }
    if (state.view === 'health') loadHealth().catch(() => {});
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // niceTicks are round values across [lo, hi] for an axis.
  function niceTicks(lo, hi, n) {
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  function hhmm(ms) {
    const d = new Date(ms);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }

  // drawSeries draws the min-max band and the mean of each bucket, the
  // setpoints as lines in their level colours, and the alert events as
  // marks; buckets further apart than two steps leave a gap, so a silent
  // sensor does not look like a straight line.
  function drawSeries(box, s, events) {
    // Drawn at the box's own width, so text is not stretched.
    const W = Math.max(480, Math.round(box.clientWidth || 900));
    const H = 320;
    const m = { l: 56, r: 70, t: 12, b: 26 };
    const from = Date.parse(s.from);
    const to = Date.parse(s.to);
    const step = s.step_ms || 0;
    const pts = s.points || [];
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p.min); hi = Math.max(hi, p.max); }
    for (const sp of s.setpoints) { lo = Math.min(lo, sp.value); hi = Math.max(hi, sp.value); }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    const x = (ms) => m.l + ((ms - from) / (to - from)) * (W - m.l - m.r);
    const y = (v) => m.t + ((hi - v) / (hi - lo)) * (H - m.t - m.b);
    const root = svg('svg', { class: 'chart series-chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
    root.appendChild(svg('rect', { class: 'plot', x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b }));
    for (const v of niceTicks(lo, hi, 5)) {
      root.appendChild(svg('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      root.appendChild(svg('text', { class: 'axis', x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtValue(v, '')));
    }
    const tenMin = 600000;
    for (let ms = Math.ceil(from / tenMin) * tenMin; ms <= to; ms += tenMin) {
      root.appendChild(svg('line', { class: 'grid', x1: x(ms), x2: x(ms), y1: m.t, y2: H - m.b }));
      root.appendChild(svg('text', { class: 'axis', x: x(ms), y: H - 8, 'text-anchor': 'middle' }, hhmm(ms)));
    }
    // Runs of buckets without gaps.
    const runs = [];
    let run = [];
    for (const p of pts) {
      const at = Date.parse(p.t) + step / 2;
      if (run.length > 0 && step > 0 && at - run[run.length - 1].at > 2.5 * step) { runs.push(run); run = []; }
      run.push({ at, p });
    }
    if (run.length > 0) runs.push(run);
    for (const r of runs) {
      const top = r.map((q) => `${x(q.at).toFixed(1)},${y(q.p.max).toFixed(1)}`);
      const bottom = r.slice().reverse().map((q) => `${x(q.at).toFixed(1)},${y(q.p.min).toFixed(1)}`);
      root.appendChild(svg('polygon', { class: 'band', points: [...top, ...bottom].join(' ') }));
      root.appendChild(svg('polyline', { class: 'mean', points: r.map((q) => `${x(q.at).toFixed(1)},${y(q.p.mean).toFixed(1)}`).join(' ') }));
    }
    for (const sp of s.setpoints) {
      const g = svg('g', { class: `setpoint sp-${sp.color}`, 'data-level': sp.level });
      g.appendChild(svg('line', { class: 'setpoint-line', x1: m.l, x2: W - m.r, y1: y(sp.value), y2: y(sp.value) }));
      const dir = sp.direction === 'below' ? t('dir_below') : t('dir_above');
      g.appendChild(svg('text', { class: 'setpoint-label', x: W - m.r + 4, y: y(sp.value) + 4 }, `${dir}${fmtValue(sp.value, '')}`));
      root.appendChild(g);
    }
    for (const ev of events) {
      const at = Date.parse(ev.at);
      if (at < from || at > to) continue;
      root.appendChild(svg('line', { class: `ev-mark ev-${ev.type} lvl-${ev.level || ev.prev_level}`, x1: x(at), x2: x(at), y1: m.t, y2: H - m.b }));
    }
    box.replaceChildren(root);
  }

  async function loadSensorPage() {
    const p = state.page;
    if (!p) return;
    const base = `api/v1/sites/${encodeURIComponent(p.site)}/sensors/${encodeURIComponent(p.sensor)}`;
    const site = await getJSON(`api/v1/sites/${encodeURIComponent(p.site)}/sensors`);
    const sn = site.sensors.find((x) => x.id === p.sensor);
    if (state.page !== p) return; // navigated away meanwhile
    $('sensor-title').textContent = `${siteName(p.site)} / ${p.sensor}`;
    if (!sn) {
      $('sensor-meta').textContent = '';
      $('sensor-chart-note').textContent = t('no_data');
      return;
    }
    state.page.sensorView = sn;
    renderSensorMeta(sn);
    const to = new Date();
    const from = new Date(to.getTime() - 3600000);
    const q = `?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    let series = { from: from.toISOString(), to: to.toISOString(), setpoints: sn.setpoints, points: [] };
    let note = '';
    if (state.features.series) {
      try {
        const body = await getJSON(`${base}/series${q}`);
        series = body;
        series.step_ms = parseStep(body.step);
        if (body.points.length === 0) note = t('no_data');
      } catch (err) {
        note = t('store_failed');
      }
    } else {
      note = t('no_store');
    }
    const evs = await getJSON(`${base}/events${q}`);
    if (state.page !== p) return;
    state.page.series = series;
    state.page.events = evs.events;
    $('sensor-chart-note').textContent = note;
    drawSeries($('sensor-chart'), series, evs.events);
    renderTimeline(evs.events);
    await loadSensorRules(base, p);
    $('view-sensor').dataset.loaded = 'true';
  }

  // loadSensorRules lists the rules the engine evaluates the sensor by,
  // as `riskmon rules show` prints them: what each watches, its levels,
  // setpoints and timing, and where its settings came from.
  async function loadSensorRules(base, p) {
    let body = null;
    try {
      body = await getJSON(`${base}/rules`);
    } catch (err) {
      body = null;
    }
    if (state.page !== p) return;
    state.page.rules = body;
    renderRules(body);
  }

  function renderRules(body) {
    const rows = [];
    for (const r of (body && body.rules) || []) {
      const tr = el('tr', r.off ? 'rule-off' : '');
      const name = el('td', 'rule-name', (r.title && (r.title[state.lang] || r.title.zh)) || r.name);
      name.title = r.note ? `${r.name} — ${r.note}` : r.name;
      tr.appendChild(name);
      tr.appendChild(el('td', '', t(`rule_${r.kind}`)));
      const lv = el('td');
      if (r.off) lv.appendChild(el('span', 'id', t('rules_off')));
      for (const l of r.levels || []) lv.appendChild(levelBadge(l));
      tr.appendChild(lv);
      const set = [];
      for (const sp of r.setpoints || []) {
        const dir = sp.direction === 'below' ? t('dir_below') : t('dir_above');
        set.push(`${t(`level_${sp.level}`)} ${dir}${fmtValue(sp.value, '')} (${t('rules_restore')} ${fmtValue(sp.clear, '')})`);
      }
      if (r.on_delay) set.push(`${t('rules_for')} ${r.on_delay}`);
      if (r.off_delay) set.push(`${t('rules_off_delay')} ${r.off_delay}`);
      if (r.m_of_n) set.push(`${r.m_of_n.m}/${r.m_of_n.n}`);
      if (r.window) set.push(`${t('rules_window')} ${r.window}`);
      for (const st of r.settings || []) set.push(`${st.name} ${st.value}`);
      tr.appendChild(el('td', 'num', set.join(' · ')));
      tr.appendChild(el('td', 'id', r.layer === 'built-in' ? t('rules_builtin') : r.layer || ''));
      rows.push(tr);
    }
    $('sensor-rules-rows').replaceChildren(...rows);
    $('sensor-rules-empty').hidden = rows.length > 0;
  }

  // renderSensorMeta is the sensor's line under its title — location,
  // kind, latest value, status — and what to do about its alarms.
  function renderSensorMeta(sn) {
    const x = tx(sn);
    const meta = [x.kind || sn.kind_name || sn.kind, fmtValue(sn.value, x.unit !== undefined ? x.unit : sn.unit), t(`status_${sn.status}`)];
    if (sn.location) meta.unshift(sn.location);
    $('sensor-meta').textContent = meta.join(' · ');
    $('sensor-procedure').textContent = x.procedure || '';
    $('sensor-consequence').textContent = x.consequence || '';
    $('sensor-guidance').hidden = !x.procedure && !x.consequence;
  }

  async function loadSensorEvents() {
    const p = state.page;
    if (!p || !p.series) return;
    const base = `api/v1/sites/${encodeURIComponent(p.site)}/sensors/${encodeURIComponent(p.sensor)}`;
    const q = `?from=${encodeURIComponent(p.series.from)}&to=${encodeURIComponent(new Date(Date.now() + 60000).toISOString())}`;
    const evs = await getJSON(`${base}/events${q}`);
    if (state.page !== p) return;
    p.events = evs.events;
    drawSeries($('sensor-chart'), p.series, evs.events);
    renderTimeline(evs.events);
  }

  // parseStep reads the Go durations the series answer gives ("5s",
  // "2m0s", "1h0m0s").
  function parseStep(d) {
    let ms = 0;
    for (const [, n, u] of String(d).matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) {
      ms += Number(n) * { h: 3600000, m: 60000, s: 1000, ms: 1 }[u];
    }
    return ms;
  }

  function renderTimeline(events) {
    const items = [];
    for (const ev of events.slice().reverse()) {
      const li = el('li', `tl tl-${ev.type}`);
      li.dataset.alertId = ev.alert_id;
      li.appendChild(el('span', 'num', fmtTime(ev.at)));
      const lv = ev.level || ev.prev_level;
      if (lv) li.appendChild(levelBadge(lv));
      li.appendChild(el('span', 'tl-type', t(`type_${ev.type}`)));
      const x = tx(ev);
      const what = el('span', 'tl-what', x.what || ev.rule);
      what.title = ev.rule;
      li.appendChild(what);
      if (x.stage) li.appendChild(el('span', 'tl-stage', x.stage));
      if (ev.type !== 'acknowledged') li.appendChild(el('span', 'num', fmtValue(ev.value, x.unit !== undefined ? x.unit : ev.unit)));
      if (ev.by) li.appendChild(el('span', 'id', `✓ ${ev.by}`));
      for (const b of badges(ev, false)) li.appendChild(b);
      li.appendChild(el('span', 'tl-msg', ev.comment || x.message || ev.message));
      items.push(li);
    }
    $('sensor-timeline').replaceChildren(...items);
    $('sensor-timeline-empty').hidden = items.length > 0;
  }

  // ---- alarm-system health -------------------------------------------------

  async function loadHealth() {
    if (!state.features.health) return;
    const hsnap = await getJSON('api/v1/alarm-health');
    if (state.view !== 'health') return;
    renderHealth(hsnap);
  }

  function fig(key, value, cls) {
    const d = el('div', `fig${cls ? ` ${cls}` : ''}`);
    d.dataset.key = key;
    d.appendChild(el('span', 'fig-value', value));
    d.appendChild(el('span', 'fig-label', t(key)));
    return d;
  }

  function renderHealth(hs) {
    state.health = hs;
    const standing = Array.from(state.open.values()).filter((a) => a.state !== 'resolved' && !setAside(a)).length;
    const floodMin = Math.round(hs.flood_seconds / 60);
    $('health-figures').replaceChildren(
      fig('h_last10', hs.last_10min, hs.last_10min > hs.flood_line ? 'bad' : ''),
      // ISA-18.2 states its benchmarks per operator: about 1 acceptable, 2 manageable.
      ...(hs.operators > 1 ? [fig('h_per_op', hs.per_operator_10min.toFixed(1), hs.per_operator_10min > 2 ? 'warn' : '')] : []),
      fig('h_avg10', hs.avg_10min.toFixed(1), hs.avg_10min > 2 ? 'warn' : ''),
      fig('h_flood', hs.flood ? t('h_flood_on') : t('h_flood_off'), hs.flood ? 'bad' : ''),
      fig('h_floods', hs.floods),
      fig('h_flood_time', `${floodMin}${t('m')}`),
      fig('h_standing', standing),
      fig('h_stale', hs.standing.length, hs.standing.length > 0 ? 'warn' : ''),
      fig('h_chattering', hs.chattering.length, hs.chattering.length > 0 ? 'warn' : ''),
      fig('h_shelved', hs.shelved || 0),
      fig('h_oos', hs.out_of_service || 0),
      fig('h_flapping', hs.flapping || 0, hs.flapping > 0 ? 'warn' : ''),
    );
    drawRate($('health-chart'), hs.rate_10min, hs.flood_line);
    const names = hs.rule_names || {};
    const rule = (id) => (names[id] && (names[id][state.lang] || names[id].zh)) || id;
    actors($('health-rules'), hs.top_rules, (a) => rule(a.rule));
    actors($('health-sensors'), hs.top_sensors, (a) => `${siteName(a.site)} / ${a.sensor}`);
    actors($('health-chatter'), hs.chattering, (a) => `${siteName(a.site)} / ${a.sensor} · ${rule(a.rule)}`);
    $('view-health').dataset.loaded = 'true';
  }

  function actors(table, list, name) {
    const rows = list.map((a) => {
      const tr = el('tr');
      tr.appendChild(el('td', '', name(a)));
      tr.appendChild(el('td', 'num', a.count));
      return tr;
    });
    if (rows.length === 0) {
      const tr = el('tr');
      tr.appendChild(el('td', 'empty', t('h_none')));
      rows.push(tr);
    }
    table.tBodies[0].replaceChildren(...rows);
  }

  // drawRate draws the alarms per 10 minutes as bars against the flood
  // line; bars over it are red.
  function drawRate(box, buckets, flood) {
    const W = Math.max(480, Math.round(box.clientWidth || 900));
    const H = 220;
    const m = { l: 40, r: 70, t: 10, b: 24 };
    const most = Math.max(0, ...buckets.map((b) => b.count));
    const top = Math.max(flood * 1.5, most * 1.15);
    const bw = (W - m.l - m.r) / Math.max(1, buckets.length);
    const y = (v) => m.t + (1 - v / top) * (H - m.t - m.b);
    const root = svg('svg', { class: 'chart rate-chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
    root.appendChild(svg('rect', { class: 'plot', x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b }));
    for (const v of niceTicks(0, top, 4)) {
      root.appendChild(svg('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      root.appendChild(svg('text', { class: 'axis', x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, v));
    }
    buckets.forEach((b, i) => {
      const x = m.l + i * bw;
      if (i % 12 === 0) {
        root.appendChild(svg('text', { class: 'axis', x: x, y: H - 8, 'text-anchor': 'middle' }, hhmm(Date.parse(b.start))));
      }
      if (b.count === 0) return;
      root.appendChild(svg('rect', {
        class: `bar${b.count > flood ? ' over' : ''}`, x: x + 0.5, y: y(b.count), width: Math.max(1, bw - 1), height: y(0) - y(b.count),
        'data-count': b.count,
      }));
    });
    root.appendChild(svg('line', { class: 'flood-line', x1: m.l, x2: W - m.r, y1: y(flood), y2: y(flood) }));
    root.appendChild(svg('text', { class: 'flood-label', x: W - m.r + 4, y: y(flood) + 4 }, `${t('h_flood_line')} ${flood}`));
    box.replaceChildren(root);
  }

  // renderBanners shows one banner per new red or orange alarm not yet
  // acknowledged, most severe first and newest first within a level, so
  // a later orange alarm never hides an earlier red one.
  function renderBanners() {
    const MAX = 3;
    const list = [];
    for (const [id, at] of state.banners) {
      const a = state.open.get(id);
      if (!a || a.acknowledged || setAside(a)) { state.banners.delete(id); continue; }
      list.push({ a, at });
    }
    list.sort((p, q) => (p.a.level - q.a.level) || (q.at - p.at));
    const out = list.slice(0, MAX).map(({ a }) => {
      const x = tx(a);
      const b = el('div', `banner lvl-${a.level}`);
      b.dataset.alertId = a.id;
      b.dataset.level = String(a.level);
      b.appendChild(el('span', 'banner-label', t('banner_new')));
      const where = `${siteName(a.site)} / ${a.sensor}${a.location ? ` (${a.location})` : ''}`;
      b.appendChild(el('span', 'banner-text', [x.label || t(`level_${a.level}`), where, x.what || a.rule, x.message || a.message].join(' · ')));
      const close = el('button', 'banner-close', t('banner_close'));
      close.type = 'button';
      // Closing is local to this console; it is not an acknowledgement.
      close.addEventListener('click', () => { state.banners.delete(a.id); state.dismissed.add(a.id); renderBanners(); });
      b.appendChild(close);
      return b;
    });
    if (list.length > MAX) out.push(el('div', 'banner-more', t('more_banners').replace('{n}', String(list.length - MAX))));
    $('banners').replaceChildren(...out);
  }

  function applyLang() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    document.title = `riskmon · ${t('title')}`;
    $('lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
    renderWho();
    renderSound();
    renderBoard();
    renderShelves();
    renderSites();
    renderSensors();
    renderBanners();
    if (state.view === 'sensor' && state.page && state.page.sensorView) renderSensorMeta(state.page.sensorView);
    if (state.view === 'sensor' && state.page && state.page.series) {
      drawSeries($('sensor-chart'), state.page.series, state.page.events || []);
      renderTimeline(state.page.events || []);
    }
    if (state.view === 'sensor' && state.page && state.page.rules !== undefined) renderRules(state.page.rules);
    if (state.view === 'health') loadHealth().catch(() => {});
  }

  function tick() {
    const now = new Date();
    $('clock').textContent = now.toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
    for (const d of document.querySelectorAll('#board .duration')) d.textContent = fmtDuration(d.dataset.since);
  }

  function init() {
    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem('riskmon.lang', state.lang);
      applyLang();
    });
    $('silence').addEventListener('click', silence);
    // An alarm nobody acknowledged keeps sounding.
    window.setInterval(soundTick, REPEAT_MS);
    $('site-detail-close').addEventListener('click', () => selectSite(state.selected));
    $('sound').addEventListener('click', toggleSound);
    // Any click may unlock audio the browser holds suspended after a
    // reload with sound on.
    document.addEventListener('click', () => { if (state.sound && state.audio) audioCtx(); });
    window.addEventListener('hashchange', route);
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => {
        if (state.view === 'sensor' && state.page && state.page.series) {
          drawSeries($('sensor-chart'), state.page.series, state.page.events || []);
        }
        if (state.view === 'health' && state.health) drawRate($('health-chart'), state.health.rate_10min, state.health.flood_line);
      }, 200);
    });
    route();
    applyLang();
    tick();
    window.setInterval(tick, 1000);
    // Staleness is a matter of time passing, which the stream does not
    // announce; refresh the site list and the open site now and then.
    window.setInterval(() => {
      loadSites().catch(() => {});
      loadSensors().catch(() => {});
      if (state.view === 'sensor') loadSensorPage().catch(() => {});
      if (state.view === 'health') loadHealth().catch(() => {});
      // Shelves expire by time; the next redraw moves their alerts back.
      if (state.shelves.some((sh) => Date.parse(sh.expires) <= Date.now())) loadShelves().catch(() => {});
    }, 30000);
    $('login-form').addEventListener('submit', (e) => { submitLogin(e).catch(() => {}); });
    $('logout').addEventListener('click', () => { logout().catch(() => {}); });
    start();
  }

  init();
})();
