'use strict';
// A Sparkplug B edge node on Eclipse Tahu's JavaScript client that, like
// an edge configured for a Sparkplug 3.0 Primary Host, publishes only
// while the host's STATE reads online: it waits for online before its
// NBIRTH, holds its readings while the host is offline, and replays them
// with is_historical when the host is back, by the aliases of the BIRTH
// it already sent (it keeps its own MQTT session, so it does not rebirth
// unless asked).
//
// Configuration comes from the environment:
//   EDGE_BROKER   mqtt://127.0.0.1:PORT
//   EDGE_GROUP    Sparkplug group id (riskmon's site)
//   EDGE_NODE     edge node id
//   EDGE_HOST     the Primary Host id to wait for; empty: publish at once,
//                 as an edge node set up without a Primary Host does
//   EDGE_METRICS  JSON [{"device":"gas","name":"Gas/GT-101","alias":1}, ...]
//   EDGE_ROUNDS   how many values to send per metric
//   EDGE_INTERVAL milliseconds between rounds
//
// Every value it publishes (BIRTH values included) is written to stdout
// as one JSON line {"device","name","ts","value"}; the last line is
// {"done":true}. Progress goes to stderr.
const sparkplug = require('sparkplug-client');
const mqtt = require('mqtt');

const broker = process.env.EDGE_BROKER;
const group = process.env.EDGE_GROUP;
const node = process.env.EDGE_NODE;
const host = process.env.EDGE_HOST;
const metrics = JSON.parse(process.env.EDGE_METRICS);
const rounds = Number(process.env.EDGE_ROUNDS);
const interval = Number(process.env.EDGE_INTERVAL);

const devices = [...new Set(metrics.map((m) => m.device))];
const last = new Map(); // device/name -> {ts, value} last sent
let hostOnline = false;
let lastStateTs = -1;
let connected = false;
let born = false;
const held = []; // rounds of readings waiting for the host

function log(...a) { process.stderr.write(a.join(' ') + '\n'); }
function sent(m, ts, value) {
  last.set(m.device + "/" + m.name, { ts, value });
  process.stdout.write(JSON.stringify({ device: m.device, name: m.name, ts, value }) + '\n');
}

const client = sparkplug.newClient({
  serverUrl: broker, clientId: node, groupId: group, edgeNode: node,
  username: null, password: null, publishDeath: true, keepalive: 5,
});

// A separate connection watches the host: Tahu's client decodes every
// message it receives as a Sparkplug protobuf, and STATE is JSON.
let watcher = null;
if (host) watchHost(); else hostOnline = true;

function watchHost() {
  watcher = mqtt.connect(broker, { clientId: node + '-state', clean: true });
  watcher.on('connect', () => watcher.subscribe(`spBv1.0/STATE/${host}`, { qos: 1 }));
  watcher.on('message', (_topic, payload) => {
    let st;
    try { st = JSON.parse(payload.toString()); } catch (e) { log('bad STATE', payload.toString()); return; }
    if (typeof st.online !== 'boolean' || typeof st.timestamp !== 'number') { log('bad STATE', payload.toString()); return; }
    // An older STATE than one already seen is a will of an earlier
    // connection: ignore it.
    if (st.timestamp < lastStateTs) return;
    lastStateTs = st.timestamp;
    const was = hostOnline;
    hostOnline = st.online;
    log('host', host, hostOnline ? 'online' : 'offline');
    if (hostOnline && !was) release();
  });
}

function birth() {
  client.publishNodeBirth({
    timestamp: Date.now(),
    metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }],
  });
  for (const d of devices) {
    const ms = metrics.filter((m) => m.device === d).map((m) => {
      const l = last.get(m.device + "/" + m.name);
      // A BIRTH carries each metric's current value; before the first
      // reading there is none, and a null value is not a reading.
      if (!l) return { name: m.name, alias: m.alias, type: 'Double', value: null };
      return { name: m.name, alias: m.alias, type: 'Double', value: l.value, timestamp: l.ts };
    });
    client.publishDeviceBirth(d, { timestamp: Date.now(), metrics: ms });
  }
  born = true;
}

function publishRound(round, historical) {
  for (const d of devices) {
    const ms = round.filter((r) => r.m.device === d).map((r) => {
      const x = { alias: r.m.alias, type: 'Double', value: r.value, timestamp: r.ts };
      if (historical) x.isHistorical = true;
      return x;
    });
    if (ms.length > 0) client.publishDeviceData(d, { timestamp: round[0].ts, metrics: ms });
  }
}

function release() {
  log('release', connected, born, held.length);
  if (!connected) return;
  if (!born) birth();
  const n = held.length;
  while (held.length > 0) publishRound(held.shift(), true);
  if (n > 0) log('replayed', n, 'rounds held while the host was away');
}

client.on('birth', () => { log('connected'); connected = true; if (hostOnline) release(); });
client.on('close', () => { log('connection closed'); connected = false; born = false; });
client.on('ncmd', (payload) => {
  for (const m of payload.metrics || []) {
    if (m.name === 'Node Control/Rebirth' && m.value === true && hostOnline && connected) {
      log('rebirth requested');
      birth();
    }
  }
});

let i = 0;
let prevTs = 0;
const timer = setInterval(() => {
  if (i >= rounds) {
    if (held.length === 0 && hostOnline && connected) finish();
    return;
  }
  const ts = Math.max(Date.now(), prevTs + 1);
  prevTs = ts;
  const round = metrics.map((m, k) => {
    const value = ((i * 7 + k * 13) % 900) / 10 + 0.25;
    sent(m, ts, value);
    return { m, ts, value };
  });
  i++;
  if (hostOnline && connected && born && held.length === 0) publishRound(round, false);
  else held.push(round);
}, interval);

let finishing = false;
function finish() {
  if (finishing) return;
  finishing = true;
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
  // Give QoS 0 publishes a moment to leave before the NDEATH and close.
  setTimeout(() => { client.stop(); if (watcher) watcher.end(); setTimeout(() => process.exit(0), 200); }, 300);
}
