// @microsoft/microsoft-graph-client, Microsoft's official Graph client,
// unmodified, against the real `patrol emulator` binary: the calls patrol
// makes to rotate an application's password and to add a federated
// identity credential. Graph's base URL is the emulator's (baseUrl); the
// token comes from @azure/identity through the client's own
// TokenCredentialAuthenticationProvider (customHosts admits the emulator's
// host, as the SDK requires for any non-Graph host).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClientSecretCredential } from '@azure/identity';
import { BatchRequestContent, BatchResponseContent, Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { app, startEmulator, user } from './lib/emulator.mjs';

let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu?.close(); });

const opts = () => ({ authorityHost: emu.url, disableInstanceDiscovery: true });

function graphClient(clientId, secret) {
  const cred = new ClientSecretCredential(emu.tenantId, clientId, secret, opts());
  const authProvider = new TokenCredentialAuthenticationProvider(cred, { scopes: ['https://graph.microsoft.com/.default'] });
  // customHosts: the client sends its token only to Graph's hosts and the ones named here.
  return Client.initWithMiddleware({ authProvider, baseUrl: emu.url, defaultVersion: 'v1.0', customHosts: new Set([new URL(emu.url).hostname]) });
}

test('addPassword, sign-in with the new secret, removePassword of the old one', async () => {
  const owner = app(emu, 'patrol-sp');
  const managed = app(emu, 'contoso-deploy');
  const g = graphClient(owner.clientId, owner.secrets[0]);
  const path = `/applications(appId='${managed.clientId}')`;

  const before = await g.api(path).get();
  assert.equal(before.appId, managed.clientId);
  assert.equal(before.passwordCredentials.length, 1);
  const oldKey = before.passwordCredentials[0].keyId;

  const end = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const added = await g.api(`${path}/addPassword`).post({ passwordCredential: { displayName: 'patrol:deploy:test', endDateTime: end } });
  assert.equal(typeof added.secretText, 'string');
  assert.equal(added.secretText.length, 40);
  assert.equal(added.displayName, 'patrol:deploy:test');

  // The new secret signs in; after removePassword the old one no longer does.
  const mgmt = 'https://management.azure.com/.default';
  await new ClientSecretCredential(emu.tenantId, managed.clientId, added.secretText, opts()).getToken(mgmt);
  await g.api(`/applications/${before.id}/removePassword`).post({ keyId: oldKey });
  await assert.rejects(new ClientSecretCredential(emu.tenantId, managed.clientId, managed.secrets[0], opts()).getToken(mgmt), /AADSTS7000215/);
  const after = await g.api(path).get();
  assert.deepEqual(after.passwordCredentials.map((p) => p.keyId), [added.keyId]);
});

test('federatedIdentityCredentials and Graph error bodies', async () => {
  const owner = app(emu, 'patrol-sp');
  const managed = app(emu, 'contoso-deploy');
  const g = graphClient(owner.clientId, owner.secrets[0]);
  const path = `/applications(appId='${managed.clientId}')/federatedIdentityCredentials`;
  const fic = await g.api(path).post({
    name: 'ado-deploy', issuer: `https://vstoken.dev.azure.com/${emu.seed.orgs[0].id}`,
    subject: 'sc://contoso/Platform/deploy', audiences: ['api://AzureADTokenExchange'],
  });
  assert.ok(fic.id);
  const list = await g.api(path).get();
  assert.deepEqual(list.value.map((f) => f.name), ['ado-deploy']);
  await g.api(`${path}/${fic.id}`).delete();
  assert.equal((await g.api(path).get()).value.length, 0);

  // An application the caller does not own: the SDK's GraphError carries Graph's code.
  const other = app(emu, 'patrol-confidential');
  await assert.rejects(g.api(`/applications(appId='${other.clientId}')/addPassword`).post({}),
    (err) => err.statusCode === 403 && err.code === 'Authorization_RequestDenied');
});

test('users: accountEnabled, 404 for a user that is gone, and the SDK\'s JSON batching', async () => {
  // patrol-sp holds User.Read.All in the built-in seed; patrol audit reads owners this way.
  const sp = app(emu, 'patrol-sp');
  const g = graphClient(sp.clientId, sp.secrets[0]);
  const disabled = user(emu, 'Disabled User');
  const gone = '00000000-0000-4000-8000-00000000dead';

  const u = await g.api(`/users/${disabled.objectId}`).select(['id', 'accountEnabled', 'userPrincipalName']).get();
  assert.equal(u.id, disabled.objectId);
  assert.equal(u.accountEnabled, false);
  assert.equal(u.userPrincipalName, disabled.upn);
  await assert.rejects(g.api(`/users/${gone}`).select('id').get(),
    (err) => err.statusCode === 404 && err.code === 'Request_ResourceNotFound');

  const batch = new BatchRequestContent([
    { id: '1', request: new Request(`${emu.url}/v1.0/users/${disabled.objectId}?$select=id,accountEnabled`, { method: 'GET' }) },
    { id: '2', request: new Request(`${emu.url}/v1.0/users/${gone}?$select=id,accountEnabled`, { method: 'GET' }) },
  ]);
  const res = new BatchResponseContent(await g.api('/$batch').post(await batch.getContent()));
  const one = res.getResponseById('1');
  assert.equal(one.status, 200);
  assert.equal((await one.json()).accountEnabled, false);
  assert.equal(res.getResponseById('2').status, 404);

  // Without User.Read.All: 403 with Graph's code.
  const other = app(emu, 'patrol-confidential');
  await assert.rejects(graphClient(other.clientId, other.secrets[0]).api(`/users/${disabled.objectId}`).get(),
    (err) => err.statusCode === 403 && err.code === 'Authorization_RequestDenied');
});
