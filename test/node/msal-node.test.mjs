// @azure/msal-node, unmodified, against the real `patrol emulator` binary.
// The only configuration beyond Entra's is the authority URL and
// knownAuthorities (so MSAL trusts the authority without Microsoft's instance
// discovery, which is unreachable); the CA comes from NODE_EXTRA_CA_CERTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as msal from '@azure/msal-node';
import { ADO, app, assertADOToken, claims, startEmulator, user } from './lib/emulator.mjs';

let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu?.close(); });

function auth(clientId, extra = {}) {
  return { clientId, authority: `${emu.url}/${emu.tenantId}`, knownAuthorities: [new URL(emu.url).host], ...extra };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('ROPC, public client', async () => {
  const pub = app(emu, 'patrol');
  const bot = user(emu, 'Patrol Bot');
  const pca = new msal.PublicClientApplication({ auth: auth(pub.clientId) });
  const r = await pca.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`], username: bot.upn, password: bot.password });
  assertADOToken(r.accessToken, { kind: 'user', appid: pub.clientId, upn: bot.upn, tid: emu.tenantId });
  assert.equal(r.account.username, bot.upn);
});

test('ROPC, confidential client (the secret is sent and required)', async () => {
  const conf = app(emu, 'patrol-confidential');
  const bot = user(emu, 'Patrol Bot');
  const cca = new msal.ConfidentialClientApplication({ auth: auth(conf.clientId, { clientSecret: conf.secrets[0] }) });
  const r = await cca.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`], username: bot.upn, password: bot.password });
  assertADOToken(r.accessToken, { kind: 'user', appid: conf.clientId, upn: bot.upn, tid: emu.tenantId });

  const wrong = new msal.ConfidentialClientApplication({ auth: auth(conf.clientId, { clientSecret: 'not-the-secret' }) });
  await assert.rejects(
    wrong.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`], username: bot.upn, password: bot.password }),
    (e) => e.errorCode === 'invalid_client' && /AADSTS7000215/.test(e.errorMessage));
});

test('ROPC: wrong password and MFA user give Entra errors', async () => {
  const pub = app(emu, 'patrol');
  const pca = new msal.PublicClientApplication({ auth: auth(pub.clientId) });
  const bot = user(emu, 'Patrol Bot');
  await assert.rejects(
    pca.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`], username: bot.upn, password: 'wrong' }),
    (e) => e.errorCode === 'invalid_grant' && /AADSTS50126/.test(e.errorMessage));
  const mfa = user(emu, 'MFA User');
  await assert.rejects(
    pca.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`], username: mfa.upn, password: mfa.password }),
    (e) => /AADSTS50076/.test(e.errorMessage));
});

test('client secret (client credentials)', async () => {
  const sp = app(emu, 'patrol-sp');
  const cca = new msal.ConfidentialClientApplication({ auth: auth(sp.clientId, { clientSecret: sp.secrets[0] }) });
  const r = await cca.acquireTokenByClientCredential({ scopes: [`${ADO}/.default`] });
  assertADOToken(r.accessToken, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
  const kv = await cca.acquireTokenByClientCredential({ scopes: ['https://vault.azure.net/.default'] });
  assert.equal(claims(kv.accessToken).aud, 'https://vault.azure.net');
});

// MSAL rounds iat/nbf of its client assertion to the nearest second, so nbf
// can lie up to 0.5 s in the future: the emulator must allow clock skew as
// Entra does. 16 sign-ins 230 ms apart cross several second boundaries at
// different offsets; without skew tolerance about half of them fail.
test('client certificate, many runs across second boundaries (AADSTS700024)', async () => {
  const sp = app(emu, 'patrol-sp');
  const { certificate, privateKey } = await emu.admin('POST', `/apps/${sp.clientId}/certificates`);
  const { X509Certificate } = await import('node:crypto');
  const x = new X509Certificate(certificate);
  const thumbprintSha256 = x.fingerprint256.replaceAll(':', '');
  const failures = [];
  for (let i = 0; i < 16; i++) {
    const cca = new msal.ConfidentialClientApplication({
      auth: auth(sp.clientId, { clientCertificate: { thumbprintSha256, privateKey, x5c: certificate } }),
    });
    try {
      const r = await cca.acquireTokenByClientCredential({ scopes: [`${ADO}/.default`] });
      assertADOToken(r.accessToken, { kind: 'app', appid: sp.clientId, tid: emu.tenantId });
    } catch (e) {
      failures.push(`run ${i} at ${new Date().toISOString()}: ${e.errorMessage ?? e.message}`);
    }
    await sleep(230);
  }
  assert.deepEqual(failures, []);
});

test('device code (approved through the emulator admin API)', async () => {
  const pub = app(emu, 'patrol');
  const mfa = user(emu, 'MFA User'); // device code satisfies MFA
  const pca = new msal.PublicClientApplication({ auth: auth(pub.clientId) });
  const r = await pca.acquireTokenByDeviceCode({
    scopes: [`${ADO}/.default`, 'offline_access'],
    deviceCodeCallback: (info) => {
      assert.match(info.message, new RegExp(info.userCode));
      emu.approveDeviceCode(info.userCode, mfa.upn).catch((e) => console.error(e));
    },
  });
  assertADOToken(r.accessToken, { kind: 'user', appid: pub.clientId, upn: mfa.upn, tid: emu.tenantId });
});

test('refresh token: silent refresh and acquireTokenByRefreshToken', async () => {
  const pub = app(emu, 'patrol');
  const bot = user(emu, 'Patrol Bot');
  const pca = new msal.PublicClientApplication({ auth: auth(pub.clientId) });
  const first = await pca.acquireTokenByUsernamePassword({ scopes: [`${ADO}/.default`, 'offline_access'], username: bot.upn, password: bot.password });
  const before = (await emu.counters())['POST /{tenant}/oauth2/v2.0/token refresh_token'] ?? 0;
  const silent = await pca.acquireTokenSilent({ account: first.account, scopes: [`${ADO}/.default`], forceRefresh: true });
  assert.notEqual(silent.accessToken, first.accessToken);
  assertADOToken(silent.accessToken, { kind: 'user', appid: pub.clientId, upn: bot.upn, tid: emu.tenantId });
  const after = (await emu.counters())['POST /{tenant}/oauth2/v2.0/token refresh_token'] ?? 0;
  assert.equal(after, before + 1, 'forceRefresh must redeem the refresh token');

  const cache = JSON.parse(pca.getTokenCache().serialize());
  const rts = Object.values(cache.RefreshToken ?? {});
  assert.equal(rts.length, 1, 'MSAL keeps the rotated refresh token');
  const other = new msal.PublicClientApplication({ auth: auth(pub.clientId) });
  const byRT = await other.acquireTokenByRefreshToken({ refreshToken: rts[0].secret, scopes: [`${ADO}/.default`] });
  assertADOToken(byRT.accessToken, { kind: 'user', appid: pub.clientId, upn: bot.upn, tid: emu.tenantId });
});

test('managed identity (App Service endpoint)', async () => {
  const mi = emu.seed.managedIdentities.find((m) => m.system);
  process.env.IDENTITY_ENDPOINT = `${emu.url}/msi/token`;
  process.env.IDENTITY_HEADER = emu.seed.identityHeader;
  try {
    const mia = new msal.ManagedIdentityApplication({});
    const r = await mia.acquireToken({ resource: ADO });
    assertADOToken(r.accessToken, { kind: 'mi', appid: mi.clientId, tid: emu.tenantId });
    const kv = await mia.acquireToken({ resource: 'https://vault.azure.net' });
    assert.equal(claims(kv.accessToken).aud, 'https://vault.azure.net');
  } finally {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
  }
});
