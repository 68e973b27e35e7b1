#!/usr/bin/env node
// check-spec: parse ../s.yaml with the official Serverless Devs parser
// (@serverless-devs/parse-spec, the library `s` itself uses) and validate
// every fc3 resource's resolved props against the fc3 component's props
// schema (fc3-props.schema.json, a copy of the component's published schema),
// strictly: a property name the schema does not know is an error too.
//
// Offline and hermetic: no credentials, no network, the caller's ~/.s is not
// read (HOME points at an empty temporary directory). The environment
// variables the s.yaml reads with ${env('NAME')} get dummy values unless
// --use-env is given, in which case the caller's environment is used as is
// (run it that way right before `s deploy` to check your real settings).
//
// Usage: node check-spec.js [--use-env] [path/to/s.yaml]
// Exit status: 0 valid; 1 invalid (every problem printed); 2 usage.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const args = process.argv.slice(2);
const useEnv = args.includes('--use-env');
const rest = args.filter((a) => a !== '--use-env');
if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) {
  console.error('usage: node check-spec.js [--use-env] [s.yaml]');
  process.exit(2);
}
const specPath = path.resolve(rest[0] || path.join(__dirname, '..', 's.yaml'));
const schemaPath = path.join(__dirname, 'fc3-props.schema.json');

// Dummy values for ${env('NAME')}: account ids must be digits (they end up
// in ARNs); everything else just has to be non-empty, as `s` requires.
function dummyFor(name) {
  if (/ACCOUNT_ID$/.test(name)) return '1234567890123456';
  return 'dummy-' + name.toLowerCase().replace(/_/g, '-');
}

function envNames(text) {
  const names = new Set();
  text = text.replace(/(^|\s)#.*$/gm, '$1'); // comments may mention ${env(...)} too
  for (const m of text.matchAll(/\$\{\s*env\(\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?\s*(?:,[^)]*)?\)\s*\}/g)) names.add(m[1]);
  for (const m of text.matchAll(/\$\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}/g)) names.add(m[1]);
  return [...names].sort();
}

// strict returns a copy of schema in which every object schema that lists
// its properties refuses others (the published schema allows any extra key,
// so a misspelt property would otherwise pass and be ignored by fc3).
function strict(schema) {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    // Keys of `properties`/`definitions` are names, not schemas: recurse into values only.
    out[k] = k === 'properties' || k === 'definitions'
      ? Object.fromEntries(Object.entries(v).map(([n, s]) => [n, strict(s)]))
      : strict(v);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

// fanoutBeyondConcurrency: a function that fans out (discover with
// KMSMIG_DISCOVER_LANES_PER_INVOCATION set, migrate and poll with
// KMSMIG_STEP_LANES_PER_INVOCATION set) and reserves concurrency must reserve
// at least 1 + KMSMIG_FANOUT_INVOCATIONS (default 10) instances: its
// coordinator and the invocations it fans out to. The same rule as
// deploy.CheckFanoutConcurrency (Go), which the rehearsal applies.
function fanoutBeyondConcurrency(props) {
  const name = String(props.functionName || '');
  const env = props.environmentVariables || {};
  let lanes;
  if (/-discover$/.test(name)) lanes = 'KMSMIG_DISCOVER_LANES_PER_INVOCATION';
  else if (/-(migrate|poll)$/.test(name)) lanes = 'KMSMIG_STEP_LANES_PER_INVOCATION';
  else return [];
  if (String(env[lanes] ?? '').trim() === '') return [];
  let fanout = 10;
  const raw = String(env.KMSMIG_FANOUT_INVOCATIONS ?? '').trim();
  if (raw !== '') {
    fanout = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!(fanout >= 1 && fanout <= 90)) {
      return [`${name}: KMSMIG_FANOUT_INVOCATIONS ${JSON.stringify(raw)}: must be a whole number from 1 to 90`];
    }
  }
  const reserved = props.concurrencyConfig && props.concurrencyConfig.reservedConcurrency;
  if (typeof reserved === 'number' && reserved < 1 + fanout) {
    return [`fan-out beyond concurrency: ${name} fans out (${lanes}=${env[lanes]}) but concurrencyConfig.reservedConcurrency ${reserved} ` +
      `is below 1 + KMSMIG_FANOUT_INVOCATIONS (${fanout}): raise reservedConcurrency to ${1 + fanout} or lower KMSMIG_FANOUT_INVOCATIONS`];
  }
  return [];
}

function quietLogger() {
  const say = (...a) => console.error('s:', ...a);
  const nop = () => {};
  return { debug: nop, info: nop, log: nop, write: nop, output: nop, tips: nop, warn: say, warnOnce: say, error: say };
}

async function main() {
  const started = Date.now();
  if (!fs.existsSync(specPath)) {
    console.error(`check-spec: ${specPath}: no such file`);
    return 1;
  }
  const text = fs.readFileSync(specPath, 'utf8');
  const needed = envNames(text);
  if (!useEnv) {
    for (const n of needed) process.env[n] = dummyFor(n);
  }
  // Hermetic: no access.yaml, default-env.json or .s cache of the caller;
  // no credentials from the environment either (the parser would only copy
  // them into ${config(...)}; this file must not need them).
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'check-spec-home-'));
  process.env.HOME = home;
  process.env.USERPROFILE = home;
  for (const k of Object.keys(process.env)) {
    if (/^(ALIBABA_CLOUD_ACCESS_KEY|ALIBABA_CLOUD_SECURITY_TOKEN|ALIBABACLOUD_)/.test(k) || /_serverless_devs_key$/.test(k)) delete process.env[k];
  }

  const problems = [];
  let steps = [];
  try {
    const ParseSpec = require('@serverless-devs/parse-spec').default;
    const parsed = await new ParseSpec(specPath, { argv: ['deploy'], logger: quietLogger() }).start();
    steps = parsed.steps || [];
    if (!parsed.yaml || !parsed.yaml.use3x) problems.push('edition is not 3.0.0');
  } catch (e) {
    console.error(`check-spec: ${specPath}: the Serverless Devs parser refused it: ${e.message}`);
    return 1;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }

  const Ajv = require('ajv');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const schema = strict(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
  const validate = ajv.compile(schema);
  // triggerConfig is anyOf every trigger kind, and IOtsConfig accepts any
  // object: check each trigger's config against its own type's definition.
  const triggerDefs = {
    timer: 'ITimerTriggerConfig', oss: 'IOssTriggerConfig', log: 'ILogTriggerConfig', http: 'IHttpTriggerConfig',
    mns_topic: 'IMnsTriggerConfig', cdn_events: 'ICdnTriggerConfig', tablestore: 'IOtsConfig', eventbridge: 'IEventBridge',
  };
  const triggerValidators = {};
  for (const [type, def] of Object.entries(triggerDefs)) {
    triggerValidators[type] = ajv.compile({ definitions: schema.definitions, $ref: `#/definitions/${def}` });
  }
  const fc3 = steps.filter((s) => s && /^fc3(@|$)/.test(String(s.component)));
  if (fc3.length === 0) problems.push('no fc3 resource');
  for (const step of fc3) {
    if (!validate(step.props)) {
      for (const e of validate.errors) {
        const extra = e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : '';
        const allowed = e.params && e.params.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : '';
        problems.push(`resources.${step.projectName}.props${e.instancePath.replace(/\//g, '.')}: ${e.message}${extra}${allowed}`);
      }
    }
    for (const [i, t] of (Array.isArray(step.props.triggers) ? step.props.triggers : []).entries()) {
      const v = t && triggerValidators[t.triggerType];
      if (v && !v(t.triggerConfig)) {
        for (const e of v.errors) {
          const extra = e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : '';
          problems.push(`resources.${step.projectName}.props.triggers.${i}.triggerConfig${e.instancePath.replace(/\//g, '.')}: ${e.message}${extra} (${t.triggerType} trigger)`);
        }
      }
    }
    problems.push(...fanoutBeyondConcurrency(step.props));
    // What the schema cannot say: every ${...} must be resolved by now.
    const leftover = JSON.stringify(step.props).match(/\$\{[^}]*\}/g);
    if (leftover) problems.push(`resources.${step.projectName}.props: unresolved ${[...new Set(leftover)].join(', ')}`);
  }
  // anyOf (triggerConfig, logConfig, code) reports every branch; keep each message once.
  const unique = [...new Set(problems)];
  if (unique.length) {
    console.error(`check-spec: ${specPath}: ${unique.length} problem(s):`);
    for (const p of unique) console.error('  ' + p);
    return 1;
  }
  const names = fc3.map((s) => s.props.functionName).join(', ');
  console.log(`check-spec: ${path.relative(process.cwd(), specPath) || specPath}: ok: ${fc3.length} fc3 functions (${names}); ` +
    `env ${useEnv ? 'from the caller' : 'dummy'}: ${needed.join(', ') || 'none'}; ${Date.now() - started} ms`);
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error('check-spec:', e && e.stack ? e.stack : e);
  process.exit(1);
});
