// Tests of check-spec.js: the s.yaml passes, and typical mistakes in a copy
// of it are caught with a message naming the property. Run: node --test
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFile } = require('child_process');

const script = path.join(__dirname, 'check-spec.js');
const spec = fs.readFileSync(path.join(__dirname, '..', 's.yaml'), 'utf8');

// check runs check-spec.js on text (a whole s.yaml) and resolves to its
// exit status and output.
function check(text, args = [], env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-spec-test-'));
  const file = path.join(dir, 's.yaml');
  fs.writeFileSync(file, text);
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args, file], { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ status: err ? err.code : 0, out: stdout + stderr });
    });
  });
}

function edit(from, to) {
  assert.ok(spec.includes(from), `s.yaml no longer contains ${JSON.stringify(from)}: update this test`);
  return spec.replace(from, to);
}

test('s.yaml passes', async () => {
  const r = await check(spec);
  assert.strictEqual(r.status, 0, r.out);
  assert.match(r.out, /ok: 4 fc3 functions/);
});

const cases = [
  ['misspelt property', edit('memorySize: 1024', 'memorySzie: 1024'), /props: must NOT have additional properties \(memorySzie\)/],
  ['unknown runtime', edit('runtime: go1', 'runtime: go2'), /props\.runtime: must be equal to one of the allowed values/],
  ['memory not a multiple of 64', edit('memorySize: 1024', 'memorySize: 1000'), /props\.memorySize: must be multiple of 64/],
  ['retries out of range', edit('maxAsyncRetryAttempts: 0', 'maxAsyncRetryAttempts: 9'), /maxAsyncRetryAttempts: must be <= 8/],
  ['environment value not a string', edit("KMSMIG_BATCH_KEYS: '50'", 'KMSMIG_BATCH_KEYS: 50'), /environmentVariables\.KMSMIG_BATCH_KEYS: must be string/],
  ['timer enable not a boolean', edit('enable: true', "enable: 'yes'"), /triggerConfig\.enable: must be boolean \(timer trigger\)/],
  ['timer without cron', edit('cronExpression: CRON_TZ', 'cron: CRON_TZ'), /must have required property 'cronExpression' \(timer trigger\)/],
  ['undefined var', edit('${vars.roleName}', '${vars.roleNme}'), /parser refused it[\s\S]*vars\.roleNme/],
  ['fan-out beyond concurrency', edit('reservedConcurrency: 16', 'reservedConcurrency: 10'),
    /fan-out beyond concurrency: kmsmig-discover fans out \(KMSMIG_DISCOVER_LANES_PER_INVOCATION=100\) but concurrencyConfig\.reservedConcurrency 10 is below 1 \+ KMSMIG_FANOUT_INVOCATIONS \(10\)/],
  ['fan-out invocations out of range', edit("KMSMIG_DISCOVER_LANES_PER_INVOCATION: '100'", "KMSMIG_DISCOVER_LANES_PER_INVOCATION: '100'\n    KMSMIG_FANOUT_INVOCATIONS: '0'"),
    /kmsmig-discover: KMSMIG_FANOUT_INVOCATIONS "0": must be a whole number from 1 to 90/],
];
test('catches', { concurrency: true }, async (t) => {
  await Promise.all(cases.map(([name, text, want]) => t.test(name, async () => {
    const r = await check(text);
    assert.strictEqual(r.status, 1, r.out);
    assert.match(r.out, want);
  })));
});

test('--use-env: a missing deploy-time variable is named', async () => {
  const r = await check(spec, ['--use-env'], { ALIBABA_CLOUD_ACCOUNT_ID: '1234567890123456', KMSMIG_STATE_BUCKET: 'b', KMSMIG_SLS_PROJECT: '' });
  assert.strictEqual(r.status, 1, r.out);
  assert.match(r.out, /env\('KMSMIG_SLS_PROJECT'\) not found/);
});
