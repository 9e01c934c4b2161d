// azure-devops-node-api, unmodified, against `patrol emulator`: the same
// operations as the Go SDK suite (test/sdk). The client gets the organization
// URL and a credential handler, nothing else; it finds every route through
// the emulator's location discovery (OPTIONS _apis/{area}, ResourceAreas).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as azdev from 'azure-devops-node-api';
import { ClientApiBase } from 'azure-devops-node-api/ClientApiBases.js';
import { ADO, startEmulator } from './lib/emulator.mjs';

const CORE_AREA = '79134c72-4a58-4b42-976c-04e7115f32bf';
const SERVICEENDPOINT_AREA = '1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7';
const TOKENADMIN_AREA = 'af68438b-ed04-4407-9eb6-f1dbae3f922e';
const PROJECT = 'Platform';

let emu;
let orgUrl;
let tool;
const seen = []; // "user:password" of each request the tool got

before(async () => {
  emu = await startEmulator();
  orgUrl = `${emu.devopsUrl}/${emu.org}`;
  tool = createServer((req, res) => {
    const [, b64 = ''] = (req.headers.authorization ?? '').split(' ');
    seen.push(Buffer.from(b64, 'base64').toString('utf8'));
    if (req.url !== '/items') { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[{"name":"alpha"},{"name":"beta"}]}');
  });
  await new Promise((resolve) => tool.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await new Promise((resolve) => tool?.close(resolve));
  await emu?.close();
});

const tokens = new Map();
/** An Azure DevOps access token for upn (password grant, the seed's confidential app). */
async function token(upn) {
  if (tokens.has(upn)) return tokens.get(upn);
  const user = emu.seed.users.find((u) => u.upn === upn);
  const app = emu.seed.apps.find((a) => a.clientId === emu.env.AZURE_CLIENT_ID);
  const res = await fetch(`${emu.url}/${emu.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: app.clientId, client_secret: app.secrets[0],
      username: upn, password: user.password, scope: `${ADO}/.default` }),
  });
  const body = await res.json();
  assert.ok(body.access_token, `token for ${upn}: ${res.status} ${body.error_description}`);
  tokens.set(upn, body.access_token);
  return body.access_token;
}

const user = () => emu.env.AZURE_USERNAME;
const admin = () => emu.seed.orgs.find((o) => o.name === emu.org).admins[0];
async function connection(upn) {
  return new azdev.WebApi(orgUrl, azdev.getBearerHandler(await token(upn)));
}

/** A PAT made through the PAT lifecycle API (the library has no client for it). */
async function createPAT(upn, displayName, scope) {
  const res = await fetch(`${emu.vsspsUrl}/${emu.org}/_apis/tokens/pats?api-version=7.1-preview.1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(upn)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ displayName, scope, validTo: new Date(Date.now() + 86400e3).toISOString(), allOrgs: false }),
  });
  const body = await res.json();
  assert.ok(body.patToken?.token, `creating PAT ${displayName}: ${res.status} ${body.patTokenError}`);
  return { id: body.patToken.authorizationId, secret: body.patToken.token, scope };
}

test('location: connection data', async () => {
  const loc = await (await connection(user())).getLocationsApi();
  const cd = await loc.getConnectionData();
  assert.equal(cd.authenticatedUser.providerDisplayName, 'Patrol Bot');
  assert.match(cd.authenticatedUser.subjectDescriptor, /^aad\./);
  assert.ok(cd.instanceId);
});

test('location: resource areas', async () => {
  const loc = await (await connection(user())).getLocationsApi();
  const areas = await loc.getResourceAreas();
  const byId = new Map(areas.map((a) => [a.id.toLowerCase(), a.locationUrl]));
  assert.equal(byId.get(CORE_AREA), `${orgUrl}/`);
  assert.equal(byId.get(SERVICEENDPOINT_AREA), `${orgUrl}/`);
  assert.equal(byId.get(TOKENADMIN_AREA), `${emu.vsspsUrl}/${emu.org}/`);
  const one = await loc.getResourceArea(TOKENADMIN_AREA);
  assert.equal(one.locationUrl, `${emu.vsspsUrl}/${emu.org}/`);
});

test('core: projects (Bearer)', async () => {
  const core = await (await connection(user())).getCoreApi();
  const projects = await core.getProjects();
  const p = projects.find((x) => x.name === PROJECT);
  assert.ok(p, `getProjects lacks ${PROJECT}: ${JSON.stringify(projects)}`);
  const one = await core.getProject(PROJECT);
  assert.equal(one.id, p.id);
  assert.equal(one.name, PROJECT);
});

test('core: projects (PAT)', async () => {
  const pat = await createPAT(user(), 'node-core-pat', 'vso.project');
  const conn = new azdev.WebApi(orgUrl, azdev.getPersonalAccessTokenHandler(pat.secret));
  const projects = await (await conn.getCoreApi()).getProjects();
  assert.ok(projects.some((x) => x.name === PROJECT));
});

// ---- service endpoints: one connection's life, step by step ----

const ep = { name: `node-generic-${Date.now()}` };
let se;
let projectRef;

async function execute() {
  const res = await se.executeServiceEndpointRequest(
    { dataSourceDetails: { dataSourceUrl: '{{{endpoint.url}}}items', resultSelector: 'jsonpath:$.items[*].name' } },
    PROJECT, ep.id);
  assert.equal(String(res.statusCode).toLowerCase(), 'ok', `execute: ${res.statusCode} ${res.errorMessage}`);
  return res;
}

function endpointBody(parameters, extra = {}) {
  return {
    name: ep.name, type: 'generic', url: `http://127.0.0.1:${tool.address().port}/`,
    authorization: { scheme: 'UsernamePassword', parameters },
    serviceEndpointProjectReferences: [{ projectReference: projectRef, name: ep.name }],
    ...extra,
  };
}

test('serviceendpoint: types', async () => {
  const conn = await connection(user());
  se = await conn.getServiceEndpointApi();
  const p = await (await conn.getCoreApi()).getProject(PROJECT);
  projectRef = { id: p.id, name: p.name };
  const types = await se.getServiceEndpointTypes('generic');
  assert.equal(types.length, 1);
  assert.equal(types[0].name, 'generic');
  assert.ok(types[0].authenticationSchemes.some((s) => s.scheme === 'UsernamePassword'));
});

test('serviceendpoint: create', async () => {
  const created = await se.createServiceEndpoint(endpointBody({ username: 'svc', password: 'secret-1' }));
  assert.ok(created.id);
  assert.equal(created.name, ep.name);
  assert.equal(created.authorization.parameters.password ?? null, null, 'the create response shows the confidential password');
  ep.id = created.id;
});

test('serviceendpoint: list and get', async () => {
  const list = await se.getServiceEndpoints(PROJECT);
  assert.ok(list.some((x) => x.id === ep.id), 'getServiceEndpoints lacks the new endpoint');
  const byName = await se.getServiceEndpointsByNames(PROJECT, [ep.name]);
  assert.deepEqual(byName.map((x) => x.id), [ep.id]);
  const one = await se.getServiceEndpointDetails(PROJECT, ep.id);
  assert.equal(one.id, ep.id);
  assert.equal(one.url, `http://127.0.0.1:${tool.address().port}/`);
  assert.equal(typeof one.isReady, 'boolean');
});

test('serviceendpoint: execute request', async () => {
  const res = await execute();
  assert.deepEqual(res.result, ['alpha', 'beta']);
  assert.equal(seen.at(-1), 'svc:secret-1');
});

test('serviceendpoint: update with a null secret', async () => {
  const updated = await se.updateServiceEndpoint(
    endpointBody({ username: 'svc', password: null }, { id: ep.id, description: 'updated by azure-devops-node-api' }), ep.id);
  assert.equal(updated.description, 'updated by azure-devops-node-api');
  await execute();
  assert.equal(seen.at(-1), 'svc:secret-1', 'a null password must keep the stored one');

  await se.updateServiceEndpoint(endpointBody({ username: 'svc', password: 'secret-2' }, { id: ep.id }), ep.id);
  await execute();
  assert.equal(seen.at(-1), 'svc:secret-2', 'a new password must replace the stored one');
});

test('serviceendpoint: execution records', async () => {
  const recs = await se.getServiceEndpointExecutionRecords(PROJECT, ep.id);
  assert.ok(recs.length >= 3, `${recs.length} execution records, want one per executed request (3)`);
  for (const r of recs) {
    assert.equal(r.data.planType, 'endpointproxy');
    assert.equal(r.data.result, 0, `result ${r.data.result}: want succeeded (0 in the library's enum)`);
  }
  const page = await se.getServiceEndpointExecutionRecords(PROJECT, ep.id, 1);
  assert.equal(page.length, 1);
  assert.ok(page.continuationToken, 'top 1 returned no continuation token');
});

test('serviceendpoint: delete', async () => {
  await se.deleteServiceEndpoint(ep.id, [projectRef.id]);
  const list = await se.getServiceEndpoints(PROJECT);
  assert.ok(!list.some((x) => x.id === ep.id), 'the deleted endpoint is still listed');
});

// ---- TokenAdmin: the library has no TokenAdmin client, so this uses its own
// ClientApiBase the way a caller adds one: resource area → host, location id →
// route and api-version through VsoClient, requests through its RestClient. ----

class TokenAdminApi extends ClientApiBase {
  static async create(upn) {
    const conn = await connection(upn);
    const area = await (await conn.getLocationsApi()).getResourceArea(TOKENADMIN_AREA);
    return new TokenAdminApi(area.locationUrl, [conn.authHandler], 'patrol-node-test');
  }

  async #url(locationId, routeValues, query) {
    const v = await this.vsoClient.getVersioningData('7.1-preview.1', 'tokenadmin', locationId, routeValues, query);
    return { url: v.requestUrl, options: this.createRequestOptions('application/json', v.apiVersion) };
  }

  async listPersonalAccessTokens(subjectDescriptor, pageSize, continuationToken) {
    const { url, options } = await this.#url('af68438b-ed04-4407-9eb6-f1dbae3f922e', { subjectDescriptor }, { pageSize, continuationToken });
    return (await this.rest.get(url, options)).result;
  }

  async revokeAuthorizations(revocations) {
    const { url, options } = await this.#url('a9c08b2c-5466-4e22-8626-1ff304ffdf0f', {});
    return (await this.rest.create(url, revocations, options)).statusCode;
  }

  async createRevocationRule(rule) {
    const { url, options } = await this.#url('ee4afb16-e7ab-4ed8-9d4b-4ef3e78f97e4', {});
    return (await this.rest.create(url, rule, options)).statusCode;
  }
}

const ta = { pats: [] };

async function listAll() {
  const seenIds = new Map();
  let cont;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 50, 'paging did not end after 50 pages');
    const page = await ta.api.listPersonalAccessTokens(ta.descriptor, 2, cont);
    assert.ok(page.value.length <= 2, `page ${pages + 1}: ${page.value.length} entries, want at most pageSize 2`);
    for (const s of page.value) {
      assert.ok(!seenIds.has(s.authorizationId), `PAT ${s.authorizationId} listed twice while paging`);
      seenIds.set(s.authorizationId, s);
    }
    if (!page.continuationToken) return seenIds;
    cont = page.continuationToken;
  }
}

async function expectValid(want) {
  const listed = await listAll();
  for (const p of ta.pats) {
    const s = listed.get(p.id);
    assert.ok(s, `PAT ${p.id} (${p.scope}) not listed`);
    assert.equal(s.isValid, want[p.id], `PAT ${p.id} (${p.scope}) isValid`);
    assert.equal(s.scope, p.scope);
    // What isValid claims, authentication confirms.
    const conn = new azdev.WebApi(orgUrl, azdev.getPersonalAccessTokenHandler(p.secret));
    const works = await (await conn.getLocationsApi()).getConnectionData().then(() => true, () => false);
    assert.equal(works, want[p.id], `PAT ${p.id} (${p.scope}) authenticates`);
  }
}

test('tokenadmin: list with paging', async () => {
  const cd = await (await (await connection(user())).getLocationsApi()).getConnectionData();
  ta.descriptor = cd.authenticatedUser.subjectDescriptor;
  for (const [i, scope] of ['vso.code', 'vso.build', 'vso.code', 'vso.build', 'vso.code'].entries()) {
    ta.pats.push(await createPAT(user(), `node-tokenadmin-${i}`, scope));
  }
  ta.api = await TokenAdminApi.create(admin());
  ta.want = Object.fromEntries(ta.pats.map((p) => [p.id, true]));
  await expectValid(ta.want);
});

test('tokenadmin: revocations', async () => {
  assert.equal(await ta.api.revokeAuthorizations([{ authorizationId: ta.pats[0].id }]), 204);
  ta.want[ta.pats[0].id] = false;
  await expectValid(ta.want);
});

test('tokenadmin: revocation rules', async () => {
  const status = await ta.api.createRevocationRule({ scopes: 'vso.build', createdBefore: new Date(Date.now() + 60e3).toISOString() });
  assert.ok(status >= 200 && status < 300, `createRevocationRule: ${status}`);
  for (const p of ta.pats) if (p.scope === 'vso.build') ta.want[p.id] = false;
  await expectValid(ta.want);
});

test('tokenadmin: not an administrator', async () => {
  const plain = await TokenAdminApi.create(user());
  await assert.rejects(plain.listPersonalAccessTokens(ta.descriptor), (e) => e.statusCode === 401);
});
