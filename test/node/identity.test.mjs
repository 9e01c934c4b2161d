// @azure/identity, unmodified, against the real `patrol emulator` binary.
// Configuration beyond Entra's: authorityHost (the emulator's URL) and
// disableInstanceDiscovery (Microsoft's instance discovery is unreachable);
// the CA comes from NODE_EXTRA_CA_CERTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, DeviceCodeCredential,
  ManagedIdentityCredential, UsernamePasswordCredential, WorkloadIdentityCredential,
} from '@azure/identity';
import { ADO, app, assertADOToken, claims, startEmulator, user } from './lib/emulator.mjs';

let emu;
let dir;
before(async () => {
  emu = await startEmulator();
  dir = mkdtempSync(join(tmpdir(), 'patrol-identity-'));
});
after(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const opts = () => ({ authorityHost: emu.url, disableInstanceDiscovery: true });
const adoScope = `${ADO}/.default`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A federated (workload identity) token as a Kubernetes issuer would sign it.
function federatedToken(nbfOffsetSeconds = 0) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sp = emu.seed.apps.find((a) => a.displayName === 'patrol-sp');
  const fc = sp.federatedCredentials[0];
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({
    iss: fc.issuer, sub: fc.subject, aud: [fc.audience], iat: now + nbfOffsetSeconds, nbf: now + nbfOffsetSeconds, exp: now + 3600,
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

test('UsernamePasswordCredential (ROPC, public client)', async () => {
  const pub = app(emu, 'patrol');
  const bot = user(emu, 'Patrol Bot');
  const cred = new UsernamePasswordCredential(emu.tenantId, pub.clientId, bot.upn, bot.password, opts());
  const t = await cred.getToken(adoScope);
  assertADOToken(t.token, { kind: 'user', appid: pub.clientId, upn: bot.upn, tid: emu.tenantId });
  assert.ok(t.expiresOnTimestamp > Date.now() + 50 * 60 * 1000);
  const mfa = user(emu, 'MFA User');
  const blocked = new UsernamePasswordCredential(emu.tenantId, pub.clientId, mfa.upn, mfa.password, opts());
  await assert.rejects(blocked.getToken(adoScope), /AADSTS50076/);
});

test('ClientSecretCredential (Azure DevOps and Key Vault)', async () => {
  const sp = app(emu, 'patrol-sp');
  const cred = new ClientSecretCredential(emu.tenantId, sp.clientId, sp.secrets[0], opts());
  assertADOToken((await cred.getToken(adoScope)).token, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
  const kv = await cred.getToken('https://vault.azure.net/.default');
  assert.equal(claims(kv.token).aud, 'https://vault.azure.net');
  const wrong = new ClientSecretCredential(emu.tenantId, sp.clientId, 'not-the-secret', opts());
  await assert.rejects(wrong.getToken(adoScope), /AADSTS7000215/);
});

// Many fresh credentials across second boundaries: MSAL (underneath) rounds
// the assertion's nbf to the nearest second, so without Entra's clock skew
// about half of these fail with AADSTS700024.
test('ClientCertificateCredential, many runs across second boundaries', async () => {
  const sp = app(emu, 'patrol-sp');
  const { certificate, privateKey } = await emu.admin('POST', `/apps/${sp.clientId}/certificates`);
  const failures = [];
  for (let i = 0; i < 12; i++) {
    const cred = new ClientCertificateCredential(emu.tenantId, sp.clientId, { certificate: certificate + privateKey }, opts());
    try {
      assertADOToken((await cred.getToken(adoScope)).token, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
    } catch (e) {
      failures.push(`run ${i}: ${e.message}`);
    }
    await sleep(230);
  }
  assert.deepEqual(failures, []);
  // A certificate the app registration does not hold is refused.
  const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = otherKey.export({ type: 'pkcs8', format: 'pem' });
  const cred = new ClientCertificateCredential(emu.tenantId, sp.clientId, { certificate: certificate + pem }, opts());
  await assert.rejects(cred.getToken(adoScope), /AADSTS700027/);
  assert.ok(createPrivateKey(privateKey));
});

test('DeviceCodeCredential (approved through the emulator admin API)', async () => {
  const pub = app(emu, 'patrol');
  const mfa = user(emu, 'MFA User');
  const cred = new DeviceCodeCredential({
    ...opts(), tenantId: emu.tenantId, clientId: pub.clientId,
    userPromptCallback: (info) => {
      assert.match(info.message, new RegExp(info.userCode));
      emu.approveDeviceCode(info.userCode, mfa.upn).catch((e) => console.error(e));
    },
  });
  const t = await cred.getToken(adoScope);
  assertADOToken(t.token, { kind: 'user', appid: pub.clientId, upn: mfa.upn, tid: emu.tenantId });
});

test('ManagedIdentityCredential (App Service endpoint)', async () => {
  const mi = emu.seed.managedIdentities.find((m) => m.system);
  process.env.IDENTITY_ENDPOINT = `${emu.url}/msi/token`;
  process.env.IDENTITY_HEADER = emu.seed.identityHeader;
  try {
    const cred = new ManagedIdentityCredential();
    const t = await cred.getToken(adoScope);
    assertADOToken(t.token, { kind: 'mi', appid: mi.clientId, tid: emu.tenantId });
    const byId = new ManagedIdentityCredential({ clientId: mi.clientId });
    assert.equal(claims((await byId.getToken('https://vault.azure.net/.default')).token).aud, 'https://vault.azure.net');
  } finally {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
  }
});

test('WorkloadIdentityCredential (federated token file, nbf 2 s ahead)', async () => {
  const sp = app(emu, 'patrol-sp');
  for (const [name, offset] of [['now', 0], ['ahead', 2]]) {
    const file = join(dir, `token-${name}`);
    writeFileSync(file, federatedToken(offset), { mode: 0o600 });
    const cred = new WorkloadIdentityCredential({ ...opts(), tenantId: emu.tenantId, clientId: sp.clientId, tokenFilePath: file });
    assertADOToken((await cred.getToken(adoScope)).token, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
  }
});

test('ClientAssertionCredential (federated assertion callback)', async () => {
  const sp = app(emu, 'patrol-sp');
  let calls = 0;
  const cred = new ClientAssertionCredential(emu.tenantId, sp.clientId, async () => { calls++; return federatedToken(2); }, opts());
  assertADOToken((await cred.getToken(adoScope)).token, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
  assert.ok(calls >= 1, "the assertion callback supplies the client assertion");
  const bad = new ClientAssertionCredential(emu.tenantId, sp.clientId, async () => 'not-a-jwt', opts());
  await assert.rejects(bad.getToken(adoScope), /AADSTS50027/);
});
