// Starts the real `patrol emulator` binary for a Node test file and tears it
// down afterwards. scripts/test-node.sh sets the environment:
//
//   PATROL_BIN             the patrol binary it built
//   PATROL_EMULATOR_STATE  a state file holding the emulator CA and keys
//   NODE_EXTRA_CA_CERTS    that CA (Node reads it once, at start-up)
//
// Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at process start, so
// every emulator a test starts loads a copy of the same state file and
// therefore serves with the same CA. The clients under test stay unmodified:
// they get the emulator's URL as their authority / base URL and nothing else.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Azure DevOps resource (application) id. */
export const ADO = '499b84ac-1321-427f-aa17-267ca6975798';

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through scripts/test-node.sh, which builds patrol and prepares the emulator CA`);
  }
  return v;
}

/**
 * Starts `patrol emulator` on 127.0.0.1 with a random port.
 * @param {object} [o]
 * @param {object} [o.seed]  a complete seed (docs/emulator.md); default: the built-in seed
 * @param {string[]} [o.args] extra `patrol emulator` flags
 * @returns {Promise<Emu>}
 */
export async function startEmulator(o = {}) {
  const bin = required('PATROL_BIN');
  const baseState = required('PATROL_EMULATOR_STATE');
  const trusted = readFileSync(required('NODE_EXTRA_CA_CERTS'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'patrol-node-'));
  const state = join(dir, 'state.json');
  copyFileSync(baseState, state);
  const args = ['emulator', '--addr', '127.0.0.1:0', '--state', state, '--ca-file', join(dir, 'ca.pem'), ...(o.args ?? [])];
  if (o.seed) {
    const seedFile = join(dir, 'seed.json');
    writeFileSync(seedFile, JSON.stringify(o.seed), { mode: 0o600 });
    args.push('--seed', seedFile);
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`patrol emulator did not start within 20 s; stderr: ${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^# patrol emulator at (https:\/\/127\.0\.0\.1:\d+) /m.exec(out);
      if (m && /^export AZURE_USERNAME=.*\n/m.test(out)) { // the last line patrol prints
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`patrol emulator exited with ${code}; stderr: ${err}`)); });
  });
  const env = {};
  for (const m of out.matchAll(/^export ([A-Z_]+)=(.*)$/gm)) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  if (readFileSync(join(dir, 'ca.pem'), 'utf8') !== trusted) {
    child.kill('SIGTERM');
    throw new Error('the emulator serves with a CA other than NODE_EXTRA_CA_CERTS: PATROL_EMULATOR_STATE and NODE_EXTRA_CA_CERTS must come from the same scripts/test-node.sh run');
  }
  const emu = {
    url,
    /** authority host as MSAL / @azure/identity want it */
    authorityHost: url,
    tenantId: env.AZURE_TENANT_ID,
    org: env.AZURE_DEVOPS_ORG,
    vsspsUrl: env.PATROL_VSSPS_URL,
    devopsUrl: env.PATROL_DEVOPS_URL,
    env,
    /** the running seed (emulator-only identities and secrets) */
    seed: null,
    /** calls the admin API (/_emulator/...) */
    async admin(method, path, body) {
      const res = await fetch(url + '/_emulator' + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} /_emulator${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    /** signs upn in for a pending device code, as the human would */
    approveDeviceCode(userCode, upn) {
      return emu.admin('POST', '/devicecode/approve', { userCode, upn });
    },
    counters() {
      return emu.admin('GET', '/counters');
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  emu.seed = await emu.admin('GET', '/seed');
  return emu;
}

/** Decodes a JWT's payload without verifying it (for assertions on claims). */
export function claims(jwt) {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

/** The seed app / user / identity with the given display name or UPN. */
export function app(emu, displayName) {
  const a = emu.seed.apps.find((x) => x.displayName === displayName);
  if (!a) throw new Error(`the emulator seed has no app named ${displayName}`);
  return a;
}

/** The seed user with the given display name. */
export function user(emu, displayName) {
  const u = emu.seed.users.find((x) => x.displayName === displayName);
  if (!u) throw new Error(`the emulator seed has no user named ${displayName}`);
  return u;
}

/**
 * Asserts that an access token for Azure DevOps has the v1 shape in which
 * Entra issues it: aud the resource id (a string), iss sts.windows.net, ver
 * 1.0, appid, oid, tid, idtyp, and upn/unique_name/scp for users.
 * @param {string} token
 * @param {{kind: 'user'|'app'|'mi', appid: string, tid: string, upn?: string}} want
 */
export function assertADOToken(token, want) {
  const c = claims(token);
  const fail = (what) => { throw new Error(`Azure DevOps token ${what}: ${JSON.stringify(c)}`); };
  if (c.aud !== ADO) fail(`aud must be the string ${ADO}`);
  if (c.iss !== `https://sts.windows.net/${want.tid}/`) fail('iss must be https://sts.windows.net/{tid}/');
  if (c.ver !== '1.0') fail('ver must be 1.0');
  if (c.appid !== want.appid) fail(`appid must be ${want.appid}`);
  if (c.tid !== want.tid || !c.oid) fail('tid/oid');
  if (want.kind === 'user') {
    if (c.idtyp !== 'user' || c.upn !== want.upn || c.unique_name !== want.upn || !c.scp) fail(`user claims (upn ${want.upn})`);
  } else {
    if (c.idtyp !== 'app' || c.upn || c.scp) fail('app claims');
    if (want.kind === 'mi' && !c.xms_mirid) fail('managed identity xms_mirid');
  }
  return c;
}
