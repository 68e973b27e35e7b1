'use strict';

// Starts `kmsmig twin --inventory demo` and reads its JSON ready line
// (testinfra/stack.Ready): kms per region, sts (HTTPS, CA in caPem), oss,
// sls, fc, the state bucket and log project, the home account and every
// account's access key.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const defaultBinary = path.join(__dirname, '..', 'bin', 'kmsmig');

async function startTwin({ binary = process.env.KMSMIG_BIN || defaultBinary, timeoutMs = 30000 } = {}) {
  if (!fs.existsSync(binary)) {
    throw new Error(`${binary} not found: build it with "go build -o bin/kmsmig ./cmd/kmsmig" (make conformance does)`);
  }
  const child = spawn(binary, ['twin', '--inventory', 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => { stderr += b; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
    readline.createInterface({ input: child.stdout }).once('line', (l) => { clearTimeout(timer); resolve(l); });
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`kmsmig twin exited (${code ?? signal}) before its ready line; stderr:\n${stderr}`)); });
  });
  const ready = JSON.parse(line);
  return {
    ready,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
      }
      await exited;
    },
  };
}

module.exports = { startTwin };
