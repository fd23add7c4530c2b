'use strict';
// An example riskmon gateway on MQTT.js: it reads readings as JSON lines
// on standard input, {"sensor":"GT-101","value":12.5,"ts":1764345600000}
// ("ts" in epoch milliseconds, optional: now), and publishes them to
// riskmon as JSON batches (docs/protocol.md). Replace the input with your
// field bus (Modbus, OPC UA, a DCS export) and keep the rest:
//
// - status: "online" retained on connect, "offline" retained as the MQTT
//   will, and published before a clean stop, so riskmon raises one
//   gateway_offline alert instead of a stale alert per sensor;
// - batches at QoS 1 with a "seq" that rises by one per batch, so riskmon
//   can count lost messages;
// - a stable client id and clean: false, so the broker keeps the session;
//   batches made while the broker is away are queued and sent on
//   reconnect, marked "historical" when they are older than a minute.
//
// Configuration from the environment:
//   RISKMON_BROKER   mqtt://127.0.0.1:1883 (mqtts:// for TLS)
//   RISKMON_SITE     site id, as in riskmon's registry
//   RISKMON_GATEWAY  this gateway's id, as in the registry's gateway column
//   RISKMON_USERNAME, RISKMON_PASSWORD  broker credentials, if any
//   BATCH_MS         how long readings gather into one batch (default 1000)
//   BATCH_MAX        most readings in one batch (default 500)
const mqtt = require('mqtt');
const readline = require('node:readline');

const broker = process.env.RISKMON_BROKER || 'mqtt://127.0.0.1:1883';
const site = process.env.RISKMON_SITE;
const gateway = process.env.RISKMON_GATEWAY;
if (!site || !gateway) {
  console.error('set RISKMON_SITE and RISKMON_GATEWAY');
  process.exit(2);
}
const batchMS = Number(process.env.BATCH_MS || 1000);
const batchMax = Number(process.env.BATCH_MAX || 500);
const base = `riskmon/v1/${site}/${gateway}`;
const statusTopic = `${base}/status`;

const client = mqtt.connect(broker, {
  clientId: `gw-${site}-${gateway}`,
  clean: false,
  username: process.env.RISKMON_USERNAME,
  password: process.env.RISKMON_PASSWORD,
  reconnectPeriod: 1000,
  will: { topic: statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
});
let reading = false;
client.on('connect', () => {
  client.publish(statusTopic, 'online', { qos: 1, retain: true });
  console.error(`connected to ${broker} as ${site}/${gateway}`);
  // Read only once connected: MQTT.js sends what was queued before the
  // connect ahead of this "online", so a goodbye queued early would be
  // overtaken by it and leave "online" retained.
  if (!reading) {
    reading = true;
    readInput();
  }
});
client.on('error', (err) => console.error('mqtt:', err.message));

let seq = 0;
let pending = [];
let timer = null;
let published = 0;

function flush() {
  if (timer) { clearTimeout(timer); timer = null; }
  if (pending.length === 0) return Promise.resolve();
  const readings = pending;
  pending = [];
  seq++;
  const now = Date.now();
  const batch = { ts: now, seq, readings };
  // A batch that waited for the broker for more than a minute is
  // store-and-forward data: riskmon stores it and records its alarms
  // without paging as if they were happening now.
  if (readings.every((r) => now - r.ts > 60000)) batch.historical = true;
  return new Promise((resolve) => {
    client.publish(`${base}/readings`, JSON.stringify(batch), { qos: 1 }, (err) => {
      if (err) console.error(`batch ${seq}:`, err.message);
      else published += readings.length;
      resolve();
    });
  });
}

function add(r) {
  pending.push(r);
  if (pending.length >= batchMax) flush();
  else if (!timer) timer = setTimeout(flush, batchMS);
}

function readInput() {
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line.trim() === '') return;
    let r;
    try { r = JSON.parse(line); } catch (e) { console.error('not JSON:', line); return; }
    if (typeof r.sensor !== 'string' || typeof r.value !== 'number') {
      console.error('want {"sensor": string, "value": number}:', line);
      return;
    }
    add({ sensor: r.sensor, value: r.value, ts: typeof r.ts === 'number' ? r.ts : Date.now() });
  });
  input.on('close', () => stop(0));
}

let stopping = false;
// Saying goodbye: send what is pending, publish "offline" (retained) and
// wait for the broker to take it, then disconnect. A plain disconnect
// would discard the will and leave "online" retained.
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await flush();
  await new Promise((resolve) => client.publish(statusTopic, 'offline', { qos: 1, retain: true }, resolve));
  client.end(false, {}, () => {
    console.error(`published ${published} readings in ${seq} batches; said goodbye`);
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
