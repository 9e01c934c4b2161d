// @azure/msal-node, unmodified, against `patrol emulator`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as msal from '@azure/msal-node';
import { ADO, app, claims, startEmulator } from './lib/emulator.mjs';

let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu?.close(); });

// MSAL needs the emulator's host in knownAuthorities: it then trusts the
// authority without Microsoft's instance discovery (which is unreachable).
function auth(clientId, extra = {}) {
  return { clientId, authority: `${emu.url}/${emu.tenantId}`, knownAuthorities: [new URL(emu.url).host], ...extra };
}

test('client secret (client credentials)', async () => {
  const sp = app(emu, 'patrol-sp');
  const cca = new msal.ConfidentialClientApplication({ auth: auth(sp.clientId, { clientSecret: sp.secrets[0] }) });
  const r = await cca.acquireTokenByClientCredential({ scopes: [`${ADO}/.default`] });
  const c = claims(r.accessToken);
  assert.equal(c.appid, sp.clientId);
  assert.equal(c.idtyp, 'app');
});
