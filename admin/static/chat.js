/* 网格通 · 网格群聊 — browser client.
 * Plain ES2017, no framework, no build step. All message text is rendered
 * with textContent / text nodes only (never innerHTML).
 */
(function () {
  'use strict';

  var MAX_LEN = 2000;
  var POLL_MS = 1500;
  var POLL_HIDDEN_MS = 5000;
  var BOT_ID = 'gridbot';
  var BOT_NAME = '网格通机器人';
  var ROLE_LABELS = {
    resident: '居民',
    worker: '网格员',
    officer: '干部',
    admin: '管理员'
  };

  var body = document.body;
  var API = body.getAttribute('data-api') || '/chat/api';

  function $(id) { return document.getElementById(id); }

  var els = {
    sessionInfo: $('session-info'),
    roomLabel: $('room-label'),
    identityLabel: $('identity-label'),
    switchBtn: $('switch'),
    picker: $('picker'),
    inviteHint: $('invite-hint'),
    roomSelect: $('room-select'),
    roomPath: $('room-path'),
    memberSelect: $('member-select'),
    residentField: $('resident-field'),
    residentName: $('resident-name'),
    enter: $('enter'),
    pickerErrorSlot: $('picker-error-slot'),
    chat: $('chat'),
    tabs: $('tabs'),
    chatTab: $('chat-tab'),
    inboxTab: $('inbox-tab'),
    inboxBadge: $('inbox-badge'),
    chatPanel: $('chat-panel'),
    inboxPanel: $('inbox-panel'),
    transcript: $('transcript'),
    inbox: $('inbox'),
    newBelow: $('new-below'),
    connStatus: $('conn-status'),
    chatErrorSlot: $('chat-error-slot'),
    replyBar: $('reply-bar'),
    replyText: $('reply-text'),
    replyCancel: $('reply-cancel'),
    text: $('text'),
    send: $('send'),
    sharePhoto: $('share-photo'),
    photoFile: $('photo-file'),
    sharePlace: $('share-place'),
    counter: $('counter'),
    error: $('error'),
    errorText: $('error-text'),
    errorClose: $('error-close'),
    loading: $('loading')
  };

  var state = {
    demo: body.getAttribute('data-demo') === 'true',
    rooms: [],
    staff: [],
    roomsLoaded: false,
    session: null,        // {token, sender, name, role, chat_id, roomName, fromLink}
    gen: 0,               // bumped on every session change; stale async work checks it
    lastId: 0,
    byId: {},
    inboxLastId: 0,
    inboxById: {},
    inboxSeen: 0,
    replyTo: null,
    sending: false,
    pending: null,        // {text, reply_to, client_id} kept for retries
    tab: 'chat',
    stick: true,          // keep transcript pinned to bottom
    msgPoller: null,
    inboxPoller: null
  };

  /* ------------------------------------------------------------------ utils */

  function show(el, on) {
    if (!el) return;
    if (on) el.removeAttribute('hidden'); else el.setAttribute('hidden', '');
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function el(tag, className, text) {
    var n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  function newClientId() {
    var bytes = new Uint8Array(16);
    var c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var s = '';
    for (var j = 0; j < bytes.length; j++) s += (bytes[j] + 256).toString(16).slice(1);
    return 'c-' + Date.now().toString(36) + '-' + s;
  }

  function charCount(s) {
    // count code points like the server (Python len), not UTF-16 units
    return Array.from(s).length;
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  // Robust ISO-8601 parse (old WebViews choke on microseconds / space separator).
  function parseTime(iso) {
    if (!iso) return null;
    var m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(String(iso).trim());
    if (!m) {
      var d0 = new Date(iso);
      return isNaN(d0.getTime()) ? null : d0;
    }
    var ms = m[7] ? Math.floor(Number((m[7] + '00').slice(0, 3))) : 0;
    var y = +m[1], mo = +m[2] - 1, d = +m[3], h = +m[4], mi = +m[5], s = m[6] ? +m[6] : 0;
    if (!m[8]) return new Date(y, mo, d, h, mi, s, ms); // naive → local time
    var t = Date.UTC(y, mo, d, h, mi, s, ms);
    if (m[8].toUpperCase() !== 'Z') {
      var tz = m[8].replace(':', '');
      var sign = tz.charAt(0) === '-' ? -1 : 1;
      var oh = +tz.slice(1, 3), om = tz.length > 3 ? +tz.slice(3, 5) : 0;
      t -= sign * (oh * 60 + om) * 60000;
    }
    return new Date(t);
  }

  function fmtTime(iso) {
    var d = parseTime(iso);
    if (!d) return '';
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  function fmtFull(iso) {
    var d = parseTime(iso);
    if (!d) return iso || '';
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function roleLabel(role) {
    return ROLE_LABELS[role] || (role ? '工作人员' : '');
  }

  function isStaffRole(role) {
    return !!role && role !== 'resident';
  }

  function isBot(m) {
    return !!m.bot || m.sender === BOT_ID;
  }

  function displayName(m) {
    if (isBot(m)) return BOT_NAME;
    return m.sender_name || m.sender || '未知';
  }

  function snippet(text, n) {
    var s = String(text || '').replace(/\s+/g, ' ').trim();
    var chars = Array.from(s);
    return chars.length > n ? chars.slice(0, n).join('') + '…' : s;
  }

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function storageSet(key, val) {
    try { window.localStorage.setItem(key, val); } catch (e) { /* ignore */ }
  }

  function getParam(name) {
    var m = new RegExp('[?&]' + name + '=([^&#]*)').exec(window.location.search);
    if (!m) return null;
    try { return decodeURIComponent(m[1].replace(/\+/g, ' ')); } catch (e) { return m[1]; }
  }

  function removeParam(name) {
    if (!window.history || !window.history.replaceState) return;
    var q = window.location.search.replace(/^\?/, '').split('&').filter(function (p) {
      return p && p.split('=')[0] !== name;
    }).join('&');
    var url = window.location.pathname + (q ? '?' + q : '') + window.location.hash;
    try { window.history.replaceState(null, '', url); } catch (e) { /* ignore */ }
  }

  /* -------------------------------------------------------------------- api */

  function NetError(msg) { this.name = 'NetError'; this.message = msg; }

  async function api(method, path, payload, opts) {
    opts = opts || {};
    var headers = { 'Accept': 'application/json' };
    var token = opts.token || (state.session && state.session.token);
    if (token) headers['X-Chat-Token'] = token;
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    var timer = null;
    if (typeof AbortController === 'function') {
      var ctrl = new AbortController();
      init.signal = ctrl.signal;
      timer = setTimeout(function () { ctrl.abort(); }, opts.timeout || 15000);
    }
    var res;
    try {
      res = await fetch(API + path, init);
    } catch (e) {
      throw new NetError('网络异常 / Network error');
    } finally {
      if (timer) clearTimeout(timer);
    }
    var data = null;
    try {
      var txt = await res.text();
      data = txt ? JSON.parse(txt) : null;
    } catch (e) {
      data = null;
    }
    return { ok: res.ok, status: res.status, data: data };
  }

  function errorText(r, fallback) {
    if (r && r.data && typeof r.data.error === 'string' && r.data.error) return r.data.error;
    if (r && r.data && typeof r.data.detail === 'string' && r.data.detail) return r.data.detail;
    return (fallback || '请求失败') + (r ? '（HTTP ' + r.status + '）' : '');
  }

  /* ----------------------------------------------------------------- errors */

  function showError(msg) {
    els.errorText.textContent = msg;
    show(els.error, true);
  }

  function hideError() {
    show(els.error, false);
    els.errorText.textContent = '';
  }

  els.errorClose.addEventListener('click', hideError);

  /* ----------------------------------------------------------------- poller */

  function makePoller(fn) {
    var p = { timer: null, running: false, again: false, stopped: false };
    async function tick() {
      if (p.stopped) return;
      if (p.running) { p.again = true; return; }
      if (p.timer) { clearTimeout(p.timer); p.timer = null; }
      p.running = true;
      var delay = document.hidden ? POLL_HIDDEN_MS : POLL_MS;
      try {
        var r = await fn();
        if (r === false) p.stopped = true;
      } catch (e) {
        delay = Math.max(delay, 3000);
      }
      p.running = false;
      if (p.stopped) return;
      if (p.again) { p.again = false; delay = 0; }
      p.timer = setTimeout(tick, delay);
    }
    p.now = tick;
    p.stop = function () {
      p.stopped = true;
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
    };
    return p;
  }

  function stopPollers() {
    if (state.msgPoller) state.msgPoller.stop();
    if (state.inboxPoller) state.inboxPoller.stop();
    state.msgPoller = state.inboxPoller = null;
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) {
      if (state.msgPoller) state.msgPoller.now();
      if (state.inboxPoller) state.inboxPoller.now();
    }
  });

  /* ----------------------------------------------------------------- picker */

  // The room list is open in the demo only; an invited member (token) sees their own room. Without
  // either the server answers 401 and the picker just shows the invitation hint.
  async function loadRooms(token) {
    try {
      var r = await api('GET', '/rooms', undefined, { timeout: 10000, token: token });
      if (!r.ok) {
        if (!state.demo && (r.status === 401 || r.status === 403)) return false;
        showError(errorText(r, '无法加载网格列表'));
        return false;
      }
      var d = r.data || {};
      if (typeof d.demo === 'boolean') state.demo = d.demo;
      state.rooms = Array.isArray(d.rooms) ? d.rooms : [];
      state.staff = Array.isArray(d.staff) ? d.staff : [];
      state.roomsLoaded = true;
      return true;
    } catch (e) {
      showError('无法连接服务器，请稍后刷新重试。');
      return false;
    }
  }

  function fillRooms() {
    var sel = els.roomSelect;
    var prev = sel.value || getParam('room');
    clear(sel);
    var groups = {};
    var order = [];
    state.rooms.forEach(function (room) {
      var key = room.path || '其他';
      if (!groups[key]) { groups[key] = []; order.push(key); }
      groups[key].push(room);
    });
    order.forEach(function (key) {
      var og = document.createElement('optgroup');
      og.label = key;
      groups[key].forEach(function (room) {
        var o = el('option', null, room.name || room.chat_id);
        o.value = room.chat_id;
        og.appendChild(o);
      });
      sel.appendChild(og);
    });
    if (!state.rooms.length) {
      var none = el('option', null, '（暂无可用网格）');
      none.value = '';
      sel.appendChild(none);
    }
    if (prev && findRoom(prev)) sel.value = prev;
    fillMembers();
  }

  function findRoom(chatId) {
    for (var i = 0; i < state.rooms.length; i++) {
      if (state.rooms[i].chat_id === chatId) return state.rooms[i];
    }
    return null;
  }

  function fillMembers() {
    var room = findRoom(els.roomSelect.value);
    els.roomPath.textContent = room ? (room.path || '') : '';
    var sel = els.memberSelect;
    var prev = sel.value;
    clear(sel);
    var res = el('option', null, '我是居民（填写姓名）');
    res.value = '';
    sel.appendChild(res);

    var members = room && Array.isArray(room.members) ? room.members : [];
    if (members.length) {
      var og1 = document.createElement('optgroup');
      og1.label = '本网格网格员';
      members.forEach(function (p) {
        var o = el('option', null, p.name + ' · ' + roleLabel(p.role || 'worker'));
        o.value = p.id;
        og1.appendChild(o);
      });
      sel.appendChild(og1);
    }
    if (state.staff.length) {
      var og2 = document.createElement('optgroup');
      og2.label = '社区 / 街道 / 部门工作人员';
      state.staff.forEach(function (p) {
        var o = el('option', null, p.name + ' · ' + roleLabel(p.role));
        o.value = p.id;
        og2.appendChild(o);
      });
      sel.appendChild(og2);
    }
    // keep the previous choice if still offered
    if (prev) {
      for (var i = 0; i < sel.options.length; i++) {
        if (sel.options[i].value === prev) { sel.value = prev; break; }
      }
    }
    syncResidentField();
  }

  function syncResidentField() {
    var isResident = !els.memberSelect.value;
    els.residentName.disabled = !isResident;
    els.residentField.classList.toggle('dim', !isResident);
  }

  els.roomSelect.addEventListener('change', fillMembers);
  els.memberSelect.addEventListener('change', syncResidentField);
  els.residentName.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      enter();
    }
  });
  els.enter.addEventListener('click', function () { enter(); });

  async function enter() {
    var chatId = els.roomSelect.value;
    if (!chatId) { showError('请先选择一个微网格。'); return; }
    var sender = els.memberSelect.value;
    if (!sender) {
      sender = els.residentName.value.trim();
      if (!sender) { showError('请填写您的姓名或称呼（例如：张阿姨）。'); els.residentName.focus(); return; }
    }
    hideError();
    els.enter.disabled = true;
    var oldLabel = els.enter.textContent;
    els.enter.textContent = '正在进入…';
    try {
      var r = await api('POST', '/session', { chat_id: chatId, sender: sender }, { token: '' });
      if (!r.ok || !r.data || !r.data.token) {
        var msg = errorText(r, '无法进入群聊');
        if (r.status === 403 || r.status === 401) {
          msg += '\n需要邀请链接：请使用网格员或社区发给您的邀请链接打开本页面。';
          show(els.inviteHint, true);
        }
        showError(msg);
        return;
      }
      var room = findRoom(chatId);
      startChat({
        token: r.data.token,
        sender: r.data.sender || sender,
        name: r.data.name || sender,
        role: r.data.role || 'resident',
        chat_id: chatId,
        roomName: room ? room.name : chatId,
        fromLink: false
      });
    } catch (e) {
      showError('网络异常，请检查网络后重试。');
    } finally {
      els.enter.disabled = false;
      els.enter.textContent = oldLabel;
    }
  }

  async function showPicker() {
    state.gen++;
    stopPollers();
    state.session = null;
    resetChat();
    show(els.chat, false);
    show(els.sessionInfo, false);
    show(els.switchBtn, false);
    els.pickerErrorSlot.appendChild(els.error);
    show(els.picker, true);
    show(els.loading, false);
    if (!state.roomsLoaded) {
      show(els.loading, true);
      await loadRooms();
      show(els.loading, false);
    }
    show(els.inviteHint, !state.demo);
    fillRooms();
  }

  els.switchBtn.addEventListener('click', function () {
    if (state.session && state.session.fromLink) removeParam('token');
    hideError();
    showPicker();
  });

  /* ------------------------------------------------------------------- chat */

  function resetChat() {
    state.lastId = 0;
    state.byId = {};
    state.inboxLastId = 0;
    state.inboxById = {};
    state.inboxSeen = 0;
    state.replyTo = null;
    state.pending = null;
    state.stick = true;
    clear(els.transcript);
    clear(els.inbox);
    setReply(null);
    show(els.newBelow, false);
    show(els.connStatus, false);
    updateBadge();
  }

  function startChat(session) {
    state.gen++;
    stopPollers();
    resetChat();
    state.session = session;
    var gen = state.gen;

    els.roomLabel.textContent = session.roomName || '网格群聊';
    els.identityLabel.textContent = session.name + '（' + (roleLabel(session.role) || '居民') + '）';
    els.roomLabel.title = session.roomName || '';
    show(els.sessionInfo, true);
    show(els.switchBtn, true);
    show(els.picker, false);
    show(els.loading, false);
    els.chatErrorSlot.appendChild(els.error);
    show(els.chat, true);

    els.transcript.appendChild(el('div', 'empty', '正在加载消息…'));

    var staff = isStaffRole(session.role);
    show(els.tabs, staff);
    if (staff) {
      els.inbox.appendChild(el('div', 'empty', '暂无通知'));
      var seen = parseInt(storageGet('gridbot.inboxSeen.' + session.sender) || '0', 10);
      state.inboxSeen = isNaN(seen) ? 0 : seen;
    }
    setTab('chat');
    updateCounter();

    state.msgPoller = makePoller(function () { return pollMessages(gen); });
    state.msgPoller.now();
    if (staff) {
      state.inboxPoller = makePoller(function () { return pollInbox(gen); });
      state.inboxPoller.now();
    }
  }

  function authLost(r) {
    stopPollers();
    showError(errorText(r, '登录已失效') + '\n请点击右上角“切换”重新进入，或重新打开邀请链接。');
  }

  async function pollMessages(gen) {
    if (gen !== state.gen) return false;
    var r;
    try {
      r = await api('GET', '/messages?after=' + state.lastId, undefined, { timeout: 10000 });
    } catch (e) {
      if (gen === state.gen) show(els.connStatus, true);
      throw e;
    }
    if (gen !== state.gen) return false;
    if (r.status === 401 || r.status === 403) { authLost(r); return false; }
    if (!r.ok) { show(els.connStatus, true); throw new Error('http ' + r.status); }
    show(els.connStatus, false);
    var list = r.data && Array.isArray(r.data.messages) ? r.data.messages : [];
    addMessages(list);
    if (!list.length) markLoaded();
    return true;
  }

  function markLoaded() {
    var empty = els.transcript.querySelector('.empty');
    if (empty && !els.transcript.querySelector('.msg')) {
      empty.textContent = '还没有消息，说点什么吧。遇到问题可直接在群里描述，机器人会登记工单。';
    } else if (empty) {
      empty.parentNode.removeChild(empty);
    }
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  }

  function scrollToBottom(box) {
    box.scrollTop = box.scrollHeight;
  }

  els.transcript.addEventListener('scroll', function () {
    if (state.tab !== 'chat') return;
    state.stick = nearBottom(els.transcript);
    if (state.stick) show(els.newBelow, false);
  });

  els.newBelow.addEventListener('click', function () {
    state.stick = true;
    scrollToBottom(els.transcript);
    show(els.newBelow, false);
  });

  function addMessages(list) {
    var added = 0;
    var box = els.transcript;
    for (var i = 0; i < list.length; i++) {
      var m = list[i];
      if (!m || typeof m.message_id !== 'number') continue;
      if (m.message_id > state.lastId) state.lastId = m.message_id;
      if (state.byId[m.message_id]) continue;
      state.byId[m.message_id] = m;
      box.appendChild(renderMessage(m, true));
      added++;
    }
    if (!added) return;
    var empty = box.querySelector('.empty');
    if (empty) empty.parentNode.removeChild(empty);
    if (state.stick || state.tab !== 'chat') {
      if (state.tab === 'chat') scrollToBottom(box);
    } else {
      show(els.newBelow, true);
    }
  }

  function appendRich(parent, text) {
    var s = String(text == null ? '' : text);
    var re = /#\d+/g;
    var last = 0;
    var m;
    while ((m = re.exec(s)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(s.slice(last, m.index)));
      parent.appendChild(el('span', 'ticket', m[0]));
      last = m.index + m[0].length;
    }
    if (last < s.length) parent.appendChild(document.createTextNode(s.slice(last)));
  }

  // What an attachment shows is GridbotMedia's decision (chat-media.js): only our own photos load as
  // images; another address is a link the reader may follow (a tracking pixel otherwise), or a label.
  function renderAttachment(a) {
    var v = window.GridbotMedia.view(a);
    if (v.kind === 'image') {
      var img = el('img', 'attachment-img');
      img.alt = '照片';
      img.loading = 'lazy';
      img.src = v.url;
      return img;
    }
    if (v.kind === 'link') {
      var link = el('a', 'attachment-place attachment-link', v.text);
      link.href = v.url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer nofollow';
      link.referrerPolicy = 'no-referrer';
      link.addEventListener('click', function (e) { e.stopPropagation(); }); // not a tap on the message
      return link;
    }
    return el('div', 'attachment-place', v.text);
  }

  async function sendAttachments(attachments) {
    if (!state.session) return;
    var r;
    try {
      r = await api('POST', '/messages', { text: '', attachments: attachments, client_id: newClientId() });
    } catch (e) {
      showError('网络异常，附件未发送，请重试。');
      return;
    }
    if (!r.ok) { showError(errorText(r, '附件发送失败')); return; }
    state.stick = true;
    if (state.msgPoller) state.msgPoller.now();
  }

  async function uploadPhoto(file) {
    if (!file) return;
    if (file.size > 5 * 1024 * 1024) { showError('图片不能超过 5 MB。'); return; }
    var res;
    try {
      res = await fetch(API + '/media', {
        method: 'POST', body: file, credentials: 'same-origin',
        headers: { 'Content-Type': file.type, 'X-Chat-Token': state.session.token }
      });
    } catch (e) {
      showError('网络异常，照片未上传，请重试。');
      return;
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok || !data || !data.url) { showError(errorText({ data: data }, '照片上传失败')); return; }
    await sendAttachments([{ kind: 'image', url: data.url }]);
  }

  els.sharePhoto.addEventListener('click', function () { els.photoFile.click(); });
  els.photoFile.addEventListener('change', function () {
    var file = els.photoFile.files && els.photoFile.files[0];
    els.photoFile.value = '';
    uploadPhoto(file);
  });
  els.sharePlace.addEventListener('click', function () {
    if (!navigator.geolocation) { showError('此浏览器不能获取位置。'); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      sendAttachments([{ kind: 'location', lat: pos.coords.latitude, lng: pos.coords.longitude, label: '' }]);
    }, function () {
      showError('没有获得位置权限，可以直接写出位置（如“3号楼东门”）。');
    }, { timeout: 10000 });
  });

  function renderMessage(m, inChat) {
    var bot = isBot(m);
    var kind = bot ? 'bot' : (m.mine ? 'mine' : 'other');
    var row = el('div', 'msg ' + kind);
    row.setAttribute('data-id', String(m.message_id));
    if (m.ticket_id !== null && m.ticket_id !== undefined) {
      row.setAttribute('data-ticket', String(m.ticket_id));
      row.classList.add('has-ticket');
    }
    if (inChat) row.setAttribute('tabindex', '0');

    var name = displayName(m);
    var avatar = el('div', 'avatar', bot ? '通' : Array.from(name)[0] || '?');
    avatar.setAttribute('aria-hidden', 'true');
    row.appendChild(avatar);

    var main = el('div', 'msg-main');
    var meta = el('div', 'meta');
    meta.appendChild(el('span', 'name', name));
    if (bot) meta.appendChild(el('span', 'tag', '机器人'));
    if (m.ticket_id !== null && m.ticket_id !== undefined) {
      meta.appendChild(el('span', 'ticket-chip', '工单 #' + m.ticket_id));
    }
    var t = el('span', 'time', fmtTime(m.created_at));
    t.title = fmtFull(m.created_at);
    meta.appendChild(t);
    main.appendChild(meta);

    var bubble = el('div', 'bubble');
    if (m.reply_to !== null && m.reply_to !== undefined) {
      var ref = state.byId[m.reply_to];
      var q = el('div', 'quote', ref
        ? '回复 ' + displayName(ref) + '：' + snippet(ref.text, 40)
        : '回复一条消息');
      bubble.appendChild(q);
    }
    var textEl = el('div', 'text');
    appendRich(textEl, m.text);
    bubble.appendChild(textEl);
    (m.attachments || []).forEach(function (a) { bubble.appendChild(renderAttachment(a)); });
    main.appendChild(bubble);
    row.appendChild(main);
    return row;
  }

  // Tap/click a message in the group transcript → reply target.
  els.transcript.addEventListener('click', function (e) {
    var node = e.target;
    while (node && node !== els.transcript && !(node.classList && node.classList.contains('msg'))) {
      node = node.parentNode;
    }
    if (!node || node === els.transcript) return;
    var sel = window.getSelection ? String(window.getSelection()) : '';
    if (sel) return; // user is selecting text to copy
    var id = parseInt(node.getAttribute('data-id'), 10);
    var m = state.byId[id];
    if (m) {
      setReply(m);
      els.text.focus();
    }
  });

  els.transcript.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' || !e.target.classList || !e.target.classList.contains('msg')) return;
    var m = state.byId[parseInt(e.target.getAttribute('data-id'), 10)];
    if (m) { e.preventDefault(); setReply(m); els.text.focus(); }
  });

  function setReply(m) {
    var prev = els.transcript.querySelector('.msg.reply-target');
    if (prev) prev.classList.remove('reply-target');
    state.replyTo = m || null;
    if (!m) {
      els.replyText.textContent = '';
      show(els.replyBar, false);
      return;
    }
    var node = els.transcript.querySelector('.msg[data-id="' + m.message_id + '"]');
    if (node) node.classList.add('reply-target');
    els.replyText.textContent = displayName(m) + '：' + snippet(m.text, 30);
    show(els.replyBar, true);
  }

  els.replyCancel.addEventListener('click', function () { setReply(null); els.text.focus(); });

  /* ------------------------------------------------------------------ inbox */

  async function pollInbox(gen) {
    if (gen !== state.gen) return false;
    var r = await api('GET', '/inbox?after=' + state.inboxLastId, undefined, { timeout: 10000 });
    if (gen !== state.gen) return false;
    if (r.status === 401 || r.status === 403) return false; // message poller reports auth loss
    if (!r.ok) throw new Error('http ' + r.status);
    var list = r.data && Array.isArray(r.data.messages) ? r.data.messages : [];
    var added = 0;
    var box = els.inbox;
    var stick = nearBottom(box);
    for (var i = 0; i < list.length; i++) {
      var m = list[i];
      if (!m || typeof m.message_id !== 'number') continue;
      if (m.message_id > state.inboxLastId) state.inboxLastId = m.message_id;
      if (state.inboxById[m.message_id]) continue;
      state.inboxById[m.message_id] = m;
      var node = renderMessage(m, false);
      if (m.message_id > state.inboxSeen) node.classList.add('unread');
      box.appendChild(node);
      added++;
    }
    if (added) {
      var empty = box.querySelector('.empty');
      if (empty) empty.parentNode.removeChild(empty);
      if (state.tab === 'inbox') {
        markInboxSeen();
        if (stick) scrollToBottom(box);
      }
    }
    updateBadge();
    return true;
  }

  function unreadCount() {
    var n = 0;
    for (var k in state.inboxById) {
      if (Object.prototype.hasOwnProperty.call(state.inboxById, k) && +k > state.inboxSeen) n++;
    }
    return n;
  }

  function updateBadge() {
    var n = state.session ? unreadCount() : 0;
    els.inboxBadge.textContent = n > 99 ? '99+' : String(n);
    show(els.inboxBadge, n > 0);
    els.inboxTab.classList.toggle('has-unread', n > 0);
  }

  function markInboxSeen() {
    if (state.inboxLastId > state.inboxSeen) {
      state.inboxSeen = state.inboxLastId;
      if (state.session) storageSet('gridbot.inboxSeen.' + state.session.sender, String(state.inboxSeen));
    }
    updateBadge();
  }

  function setTab(tab) {
    state.tab = tab;
    var inbox = tab === 'inbox';
    els.chatTab.classList.toggle('active', !inbox);
    els.inboxTab.classList.toggle('active', inbox);
    els.chatTab.setAttribute('aria-selected', String(!inbox));
    els.inboxTab.setAttribute('aria-selected', String(inbox));
    show(els.chatPanel, !inbox);
    show(els.inboxPanel, inbox);
    els.text.placeholder = inbox ? '发送到群聊…' : '输入消息，轻触消息可回复';
    if (inbox) {
      // clear "unread" marks from the previous visit, then mark everything seen
      var olds = els.inbox.querySelectorAll('.msg.unread');
      for (var i = 0; i < olds.length; i++) {
        var id = +olds[i].getAttribute('data-id');
        if (id <= state.inboxSeen) olds[i].classList.remove('unread');
      }
      markInboxSeen();
      scrollToBottom(els.inbox);
    } else {
      if (state.stick) scrollToBottom(els.transcript);
    }
  }

  els.chatTab.addEventListener('click', function () { setTab('chat'); });
  els.inboxTab.addEventListener('click', function () {
    setTab(state.tab === 'inbox' ? 'chat' : 'inbox');
  });

  /* --------------------------------------------------------------- composer */

  function updateCounter() {
    var n = charCount(els.text.value);
    els.counter.textContent = n + '/' + MAX_LEN;
    els.counter.classList.toggle('over', n > MAX_LEN);
    autoGrow();
  }

  function autoGrow() {
    var t = els.text;
    t.style.height = 'auto';
    var border = t.offsetHeight - t.clientHeight; // border-box: add borders back
    var want = t.scrollHeight + border;
    t.style.height = Math.min(want, 140) + 'px';
    t.style.overflowY = want > 140 ? 'auto' : 'hidden';
  }

  function setSending(on) {
    state.sending = on;
    els.send.disabled = on;
    els.send.textContent = on ? '发送中…' : '发送';
  }

  els.text.addEventListener('input', updateCounter);
  els.text.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' && e.keyCode !== 13) return;
    if (e.isComposing || e.keyCode === 229) return; // IME candidate confirmation
    if (e.shiftKey) return; // newline
    e.preventDefault();
    send();
  });
  els.send.addEventListener('click', function () { send(); });

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  async function send() {
    if (state.sending || !state.session) return;
    var raw = els.text.value;
    var text = raw.trim();
    if (!text) { els.text.focus(); return; }
    var replyTo = state.replyTo ? state.replyTo.message_id : null;
    var p = state.pending;
    if (!p || p.text !== text || p.reply_to !== replyTo) {
      p = state.pending = { text: text, reply_to: replyTo, client_id: newClientId() };
    }
    var gen = state.gen;
    setSending(true);
    hideError();
    var r = null;
    var netFail = false;
    try {
      for (var attempt = 0; attempt < 3; attempt++) {
        if (attempt) await sleep(800 * attempt);
        if (gen !== state.gen) return;
        try {
          r = await api('POST', '/messages', { text: p.text, reply_to: p.reply_to, client_id: p.client_id });
          netFail = false;
        } catch (e) {
          netFail = true;
          r = null;
          continue;
        }
        if (r.status >= 500 || r.status === 408 || r.status === 429) continue;
        break;
      }
      if (gen !== state.gen) return;
      if (r && r.ok) {
        state.pending = null;
        if (els.text.value === raw) els.text.value = '';
        setReply(null);
        updateCounter();
        state.stick = true;
        if (state.tab !== 'chat') setTab('chat');
        if (state.msgPoller) state.msgPoller.now();
        return;
      }
      if (netFail || !r) {
        showError('网络异常，消息可能未发送成功。请点击“发送”重试（不会重复发送）。');
      } else {
        if (r.status < 500 && r.status !== 408 && r.status !== 429) state.pending = null;
        var msg = errorText(r, '发送失败');
        if (r.status === 401 || r.status === 403) msg += '\n请点击右上角“切换”重新进入。';
        showError(msg);
      }
    } finally {
      if (gen === state.gen) setSending(false);
    }
  }

  /* ------------------------------------------------------------------- boot */

  async function enterWithToken(token) {
    show(els.loading, true);
    var r;
    try {
      r = await api('GET', '/me', undefined, { token: token, timeout: 10000 });
    } catch (e) {
      show(els.loading, false);
      await showPicker();
      showError('网络异常，无法验证邀请链接，请稍后刷新重试。');
      return;
    }
    if (!r.ok || !r.data) {
      show(els.loading, false);
      await showPicker();
      showError(errorText(r, '邀请链接无效或已过期') + '\n请向网格员或社区索取新的邀请链接。');
      return;
    }
    var d = r.data;
    var chatId = d.chat_id || null;
    var roomName = d.chat_name || d.room_name || d.room || null;
    if (!roomName && chatId) {
      if (!state.roomsLoaded) await loadRooms(token);
      var room = findRoom(chatId);
      if (room) roomName = room.name;
    }
    startChat({
      token: d.token || token,
      sender: d.sender,
      name: d.name || d.sender,
      role: d.role || 'resident',
      chat_id: chatId,
      roomName: roomName || '网格群聊',
      fromLink: true
    });
  }

  function boot() {
    var token = getParam('token');
    if (token) enterWithToken(token);
    else showPicker();
  }

  // test/debug hook (read-only view of state)
  window.gridbotChat = {
    state: state,
    enterWithToken: enterWithToken
  };

  boot();
})();
