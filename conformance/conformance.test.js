'use strict';

// The twins of `kmsmig twin --inventory demo` through the official Node.js
// SDKs, unchanged: @alicloud/openapi-client (V3 signature) and
// @alicloud/pop-core (V1) against KMS, @alicloud/sts20150401 against STS
// (HTTPS, trusting the ready line's CA), ali-oss with V1 and V4 signing
// against OSS, @alicloud/log against SLS and @alicloud/fc20230330 against
// FC. Each test is one check, named "<sdk>: <what>"; reporter.mjs counts
// them per SDK. Run with `make conformance`.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { Readable } = require('node:stream');
const { before, after, test } = require('node:test');

const OpenApi = require('@alicloud/openapi-client');
const OpenApiCore = require('@alicloud/openapi-core');
const TeaUtil = require('@alicloud/tea-util');
const RPCClient = require('@alicloud/pop-core').RPCClient;
const Sts = require('@alicloud/sts20150401');
const OSS = require('ali-oss');
const SLS = require('@alicloud/log');
const FC = require('@alicloud/fc20230330');

const { startTwin } = require('./twin');

const KMS_VERSION = '2016-01-20';
const TIMEOUT = { timeout: 20000 };

let twin;
let ready;
let home; // the account owning the state bucket, the log project and FC
let kmsRegion; // a region where home has keys and secrets

before(async () => {
  twin = await startTwin();
  ready = twin.ready;
  home = ready.accounts.find((a) => a.id === ready.home);
  assert.ok(home, `the ready line names home account ${ready.home} but lists no keys for it`);
  for (const region of Object.keys(ready.kms).sort()) {
    const keys = await popClient(region).request('ListKeys', {}, { method: 'POST' });
    if (keys.TotalCount > 0) {
      kmsRegion = region;
      break;
    }
  }
  assert.ok(kmsRegion, 'the demo inventory gives the home account no KMS keys in any region');
});

after(async () => {
  if (twin) {
    await twin.stop();
  }
});

// --- KMS: @alicloud/openapi-client, signature V3 (ACS3-HMAC-SHA256) -------

function openapiClient(region, secret = home.accessKeySecret) {
  return new OpenApi.default(new OpenApi.Config({
    accessKeyId: home.accessKeyId, accessKeySecret: secret,
    endpoint: ready.kms[region], protocol: 'http', regionId: region,
  }));
}

// kmsV3 calls an action the way every generated KMS client does (CallApi,
// RPC style, form body), and returns the response body.
async function kmsV3(action, query = {}, secret) {
  const params = new OpenApi.Params({
    action, version: KMS_VERSION, protocol: 'HTTP', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const res = await openapiClient(kmsRegion, secret).callApi(params, new OpenApi.OpenApiRequest({ query }), new TeaUtil.RuntimeOptions({}));
  return res.body;
}

test('openapi-client: DescribeRegions lists every region of the inventory', TIMEOUT, async () => {
  const body = await kmsV3('DescribeRegions');
  assert.deepEqual(body.Regions.Region.map((r) => r.RegionId).sort(), Object.keys(ready.kms).sort());
});

test('openapi-client: ListKeys pages the keys', TIMEOUT, async () => {
  const body = await kmsV3('ListKeys', { PageSize: '1', PageNumber: '1' });
  assert.equal(body.Keys.Key.length, 1);
  assert.equal(body.PageSize, 1);
  assert.ok(body.TotalCount >= 1);
});

test('openapi-client: DescribeKey describes a listed key', TIMEOUT, async () => {
  const keyId = (await kmsV3('ListKeys')).Keys.Key[0].KeyId;
  const body = await kmsV3('DescribeKey', { KeyId: keyId });
  assert.equal(body.KeyMetadata.KeyId, keyId);
  assert.match(body.KeyMetadata.Arn, new RegExp(`^acs:kms:${kmsRegion}:${home.id}:key/`));
});

test('openapi-client: ListSecrets lists the secrets', TIMEOUT, async () => {
  const body = await kmsV3('ListSecrets');
  assert.ok(body.SecretList.Secret.length >= 1);
  assert.ok(body.SecretList.Secret.every((s) => typeof s.SecretName === 'string' && s.SecretName !== ''));
});

test('openapi-client: DescribeKey of an unknown key is Forbidden.KeyNotFound', TIMEOUT, async () => {
  await assert.rejects(kmsV3('DescribeKey', { KeyId: 'key-does-not-exist' }), (err) => {
    assert.equal(err.code, 'Forbidden.KeyNotFound');
    assert.equal(err.statusCode, 404);
    return true;
  });
});

test('openapi-client: a wrong secret is SignatureDoesNotMatch', TIMEOUT, async () => {
  await assert.rejects(kmsV3('DescribeRegions', {}, 'not-the-secret'), (err) => {
    assert.equal(err.code, 'SignatureDoesNotMatch');
    assert.equal(err.statusCode, 400);
    return true;
  });
});

// --- KMS: @alicloud/pop-core, signature V1 (HMAC-SHA1) ---------------------

function popClient(region, cred = home) {
  return new RPCClient({
    accessKeyId: cred.accessKeyId, accessKeySecret: cred.accessKeySecret, securityToken: cred.securityToken,
    endpoint: `http://${ready.kms[region]}`, apiVersion: KMS_VERSION,
  });
}

test('pop-core: DescribeRegions lists every region of the inventory', TIMEOUT, async () => {
  const body = await popClient(kmsRegion).request('DescribeRegions', {}, { method: 'POST' });
  assert.deepEqual(body.Regions.Region.map((r) => r.RegionId).sort(), Object.keys(ready.kms).sort());
});

test('pop-core: ListKeys over GET (parameters in the query)', TIMEOUT, async () => {
  const body = await popClient(kmsRegion).request('ListKeys', { PageSize: 50 });
  assert.ok(body.Keys.Key.length >= 1);
  assert.equal(body.Keys.Key.length, body.TotalCount);
});

test('pop-core: DescribeKey describes a listed key', TIMEOUT, async () => {
  const c = popClient(kmsRegion);
  const keyId = (await c.request('ListKeys', {}, { method: 'POST' })).Keys.Key[0].KeyId;
  const body = await c.request('DescribeKey', { KeyId: keyId }, { method: 'POST' });
  assert.equal(body.KeyMetadata.KeyId, keyId);
});

test('pop-core: ListSecrets lists the secrets', TIMEOUT, async () => {
  const body = await popClient(kmsRegion).request('ListSecrets', { PageSize: 50 }, { method: 'POST' });
  assert.ok(body.SecretList.Secret.length >= 1);
  assert.equal(body.SecretList.Secret.length, body.TotalCount);
});

// The gateway's V1 refusal carries its string to sign after
// "server string to sign is:"; aliyun-python-sdk-core reads it as
// message.split(':')[1].
test('pop-core: a wrong secret is SignatureDoesNotMatch with the server string to sign', TIMEOUT, async () => {
  const c = popClient(kmsRegion, { ...home, accessKeySecret: 'not-the-secret' });
  await assert.rejects(c.request('DescribeRegions', {}, { method: 'POST' }), (err) => {
    assert.equal(err.code, 'SignatureDoesNotMatch');
    const prefix = 'Specified signature is not matched with our calculation. server string to sign is:';
    assert.ok(err.data.Message.startsWith(prefix), err.data.Message);
    const stringToSign = err.data.Message.slice(prefix.length);
    assert.equal(err.data.Message.split(':')[1], stringToSign);
    assert.match(stringToSign, /^POST&%2F&/);
    assert.ok(stringToSign.includes(`AccessKeyId%3D${home.accessKeyId}%26`), stringToSign);
    assert.ok(stringToSign.includes('Action%3DDescribeRegions'), stringToSign);
    assert.ok(!stringToSign.includes('%26Signature%3D'), 'the signature itself is not signed');
    return true;
  });
});

// --- STS: @alicloud/sts20150401 (openapi-core, V3) over HTTPS ---------------

let stsCredentials;

test('sts: AssumeRole over HTTPS returns temporary credentials', TIMEOUT, async () => {
  const client = new Sts.default(new OpenApiCore.$OpenApiUtil.Config({
    accessKeyId: home.accessKeyId, accessKeySecret: home.accessKeySecret,
    endpoint: ready.sts, protocol: 'https', regionId: kmsRegion,
    ca: ready.caPem, // the twin's own CA; verification stays on
  }));
  const roleArn = `acs:ram::${home.id}:role/kmsmig-conformance`;
  const res = await client.assumeRole(new Sts.AssumeRoleRequest({ roleArn, roleSessionName: 'conformance', durationSeconds: 900 }));
  const c = res.body.credentials;
  assert.match(c.accessKeyId, /^STS\./);
  assert.ok(c.accessKeySecret && c.securityToken);
  assert.ok(Date.parse(c.expiration) > Date.now());
  assert.equal(res.body.assumedRoleUser.arn, `${roleArn}/conformance`);
  stsCredentials = { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken };
});

test('sts: the temporary credentials call KMS (pop-core, SecurityToken)', TIMEOUT, async () => {
  assert.ok(stsCredentials, 'AssumeRole failed');
  const body = await popClient(kmsRegion, stsCredentials).request('ListKeys', {}, { method: 'POST' });
  assert.ok(body.TotalCount >= 1);
});

// --- OSS: ali-oss, V1 (default) and V4 (authorizationV4) --------------------

function ossClient(v4, secret = home.accessKeySecret) {
  // An IP endpoint: ali-oss sends Host <bucket>.oss-<region>.aliyuncs.com.
  return new OSS({
    region: `oss-${ready.ossRegion}`, endpoint: `http://${ready.oss}`, secure: false,
    accessKeyId: home.accessKeyId, accessKeySecret: secret,
    bucket: ready.stateBucket, authorizationV4: v4, retryMax: 0,
  });
}

for (const [sdk, v4] of [['ali-oss-v1', false], ['ali-oss-v4', true]]) {
  const prefix = `conformance/${sdk}/`;
  const key = `${prefix}a b+c.txt`; // a space and a plus
  const content = Buffer.from(`written by ${sdk}`);

  test(`${sdk}: put`, TIMEOUT, async () => {
    const res = await ossClient(v4).put(key, content);
    assert.equal(res.res.status, 200);
    const md5 = crypto.createHash('md5').update(content).digest('hex').toUpperCase();
    assert.equal(res.res.headers.etag, `"${md5}"`);
  });

  test(`${sdk}: get`, TIMEOUT, async () => {
    const res = await ossClient(v4).get(key);
    assert.equal(res.content.toString(), content.toString());
  });

  test(`${sdk}: head`, TIMEOUT, async () => {
    const res = await ossClient(v4).head(key);
    assert.equal(res.status, 200);
    assert.equal(Number(res.res.headers['content-length']), content.length);
  });

  test(`${sdk}: listV2`, TIMEOUT, async () => {
    const res = await ossClient(v4).listV2({ prefix, 'max-keys': 10 });
    assert.deepEqual(res.objects.map((o) => o.name), [key]);
  });

  // ali-oss returns the names as sent; decodeURIComponent reads %20 as a
  // space and %2B as a plus (a + for a space would stay a plus).
  test(`${sdk}: listV2 with encoding-type url`, TIMEOUT, async () => {
    const res = await ossClient(v4).listV2({ prefix, 'encoding-type': 'url' });
    assert.deepEqual(res.objects.map((o) => o.name), [encodeURIComponent(key)]);
    assert.deepEqual(res.objects.map((o) => decodeURIComponent(o.name)), [key]);
  });

  test(`${sdk}: a wrong secret is SignatureDoesNotMatch`, TIMEOUT, async () => {
    // HEAD has no body: ali-oss reads the error from the x-oss-err header.
    await assert.rejects(ossClient(v4, 'not-the-secret').head(key), (err) => {
      assert.equal(err.status, 403);
      assert.equal(err.code, 'SignatureDoesNotMatch');
      return true;
    });
  });
}

// --- SLS: @alicloud/log (V1) ------------------------------------------------

// @alicloud/log addresses <project>.<endpoint>, which does not resolve for
// an IP endpoint: this agent connects every such name to the twin's host.
function slsAgent() {
  const host = ready.sls.slice(0, ready.sls.lastIndexOf(':'));
  const lookup = (hostname, options, cb) => (options && options.all
    ? cb(null, [{ address: host, family: 4 }])
    : cb(null, host, 4));
  return new http.Agent({ lookup });
}

function slsClient() {
  return new SLS({ accessKeyId: home.accessKeyId, accessKeySecret: home.accessKeySecret, endpoint: ready.sls });
}

const STORES = ['conformance-audit', 'conformance-trail', 'app-audit-conformance'];
const sentAt = Math.floor(Date.now() / 1000);

test('log: createLogStore', TIMEOUT, async () => {
  const agent = slsAgent();
  for (const name of STORES) {
    await slsClient().createLogStore(ready.logProject, name, { ttl: 1, shardCount: 1 }, { agent });
  }
});

test('log: createIndex', TIMEOUT, async () => {
  await slsClient().createIndex(ready.logProject, STORES[0], {
    line: { token: [' ', ',', ':'], caseSensitive: false },
    keys: { action: { type: 'text', token: [' '], caseSensitive: false } },
  }, { agent: slsAgent() });
});

test('log: postLogStoreLogs (PutLogs, protobuf)', TIMEOUT, async () => {
  await slsClient().postLogStoreLogs(ready.logProject, STORES[0], {
    logs: [
      { timestamp: sentAt, content: { action: 'Migrate', key: 'key-1' } },
      { timestamp: sentAt, content: { action: 'Discover', key: 'key-2' } },
    ],
    topic: 'conformance',
  }, { agent: slsAgent() });
});

test('log: getLogs finds what was put', TIMEOUT, async () => {
  const logs = await slsClient().getLogs(ready.logProject, STORES[0],
    new Date((sentAt - 60) * 1000), new Date((sentAt + 60) * 1000), { query: 'action:Migrate' }, { agent: slsAgent() });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].key, 'key-1');
  assert.equal(logs[0].__topic__, 'conformance');
});

// listLogStore sends logstoreName, offset and size, empty when unset.
test('log: listLogStore by logstoreName (names containing it)', TIMEOUT, async () => {
  const res = await slsClient().listLogStore(ready.logProject, { logstoreName: 'audit' }, { agent: slsAgent() });
  assert.deepEqual(res.logstores, ['app-audit-conformance', 'conformance-audit']);
  assert.equal(res.count, 2);
  assert.equal(res.total, 2);
});

test('log: listLogStore pages with offset and size', TIMEOUT, async () => {
  const res = await slsClient().listLogStore(ready.logProject, { logstoreName: 'conformance', offset: 1, size: 1 }, { agent: slsAgent() });
  assert.deepEqual(res.logstores, ['conformance-audit']);
  assert.equal(res.count, 1);
  assert.equal(res.total, 3);
});

// --- FC: @alicloud/fc20230330 (openapi-core, V3, ROA) -----------------------

// `kmsmig twin` serves the InvokeFunction API but deploys no function (the
// functions run under `kmsmig rehearse`), so a successful invocation is out
// of reach here: the checks are that the V3 ROA signature is accepted (the
// answer is FunctionNotFound, decided after it) and that a wrong one is not.
function fcClient(secret = home.accessKeySecret) {
  return new FC.default(new OpenApiCore.$OpenApiUtil.Config({
    accessKeyId: home.accessKeyId, accessKeySecret: secret,
    endpoint: ready.fc, protocol: 'http', regionId: ready.ossRegion,
  }));
}

function invoke(client) {
  return client.invokeFunction('kmsmig-not-deployed', new FC.InvokeFunctionRequest({ body: Readable.from([Buffer.from('{}')]) }));
}

test('fc: InvokeFunction is signed well enough to reach the function lookup (FunctionNotFound)', TIMEOUT, async () => {
  await assert.rejects(invoke(fcClient()), (err) => {
    assert.equal(err.code, 'FunctionNotFound');
    assert.equal(err.statusCode, 404);
    return true;
  });
});

test('fc: InvokeFunction with a wrong secret is SignatureDoesNotMatch', TIMEOUT, async () => {
  await assert.rejects(invoke(fcClient('not-the-secret')), (err) => {
    assert.equal(err.code, 'SignatureDoesNotMatch');
    return true;
  });
});
