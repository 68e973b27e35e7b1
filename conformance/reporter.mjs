// A node:test reporter for the conformance run: one line per check, the
// failures in full, then the checks that passed per SDK (the part of a
// test's name before ": ") and the plain line "N passed, M failed".

const ORDER = ['openapi-client', 'pop-core', 'sts', 'ali-oss-v1', 'ali-oss-v4', 'log', 'fc'];

export default async function* reporter(source) {
  const perSDK = new Map(ORDER.map((sdk) => [sdk, 0]));
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    const { type, data } = event;
    if ((type === 'test:pass' || type === 'test:fail') && data.details?.type === 'suite') {
      continue;
    }
    switch (type) {
      case 'test:pass': {
        passed++;
        const sdk = data.name.split(': ')[0];
        perSDK.set(sdk, (perSDK.get(sdk) ?? 0) + 1);
        yield `ok   ${data.name} (${Math.round(data.details.duration_ms)} ms)\n`;
        break;
      }
      case 'test:fail': {
        failed++;
        const err = data.details.error;
        const cause = err?.cause ?? err;
        yield `FAIL ${data.name}\n${indent(String(cause?.stack ?? cause))}\n`;
        break;
      }
      case 'test:stdout':
      case 'test:stderr':
        yield data.message;
        break;
      default:
    }
  }
  const counts = [...perSDK].map(([sdk, n]) => `${sdk} ${n}`).join(', ');
  yield `conformance: ${counts}\n`;
  yield `${passed} passed, ${failed} failed\n`;
}

function indent(s) {
  return s.split('\n').map((l) => `     ${l}`).join('\n');
}
