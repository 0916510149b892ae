// End-to-end: the official mem0ai client (pinned in package.json) talks to
// the platform-dialect mock Mem0 through the proxy. Asserts what the client
// got, and the exact claims the mock Wingman recorded, with no test PII in
// any of them. Started by tests/run.sh through tests/e2e/harness.py, which
// provides PROXY_URL, MOCK_MEM0_URL, MOCK_WINGMAN_URL and PROXY_BIN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import MemoryClient from 'mem0ai';

const { PROXY_URL, MOCK_WINGMAN_URL, MOCK_MEM0_URL, PROXY_BIN } = process.env;
const ALICE = 'alice.smith@example.com';
const PII = [ALICE, 'alice.smith', 'pizza', 'peanuts', 'Alice Smith',
  'owner@example.com', 'sdk-secret-key'];
const TAIL = / \[op=([a-z-]+) method=(\S+)(?: status=(\d+))?(?: error=\S+)?(?: approval=\S+)? request=\S+\]$/;

function pseudonym(value) {
  return execFileSync(PROXY_BIN, ['hash', value], { env: process.env })
    .toString().trim();
}

// Every claim the proxy stores is sealed into its chain (src/chain.h):
// " stream=... seq=... chain=..." before the closing ']'. The tests look
// at the claims without it, and without the chain's checkpoints.
const SEAL = / stream=[0-9a-f]{16} seq=[1-9][0-9]* chain=[0-9a-f]{32}\]$/;

async function claims() {
  const r = await fetch(`${MOCK_WINGMAN_URL}/_mock/claims`);
  assert.equal(r.status, 200);
  return (await r.json()).claims.map((c) => c.claim)
    .filter((c) => !c.startsWith('Checkpoint of stream '))
    .map((c) => {
      assert.match(c, SEAL, `claim without a seal: ${c}`);
      return c.replace(SEAL, ']');
    });
}

async function waitClaims(n, ms = 10000) {
  const end = Date.now() + ms;
  let got = [];
  while (Date.now() < end) {
    got = (await claims()).filter((c) => !c.startsWith('Ping '));
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`want ${n} claims, got ${got.length}: ${JSON.stringify(got)}`);
}

// Approve the next approval request that shows up as PENDING; resolves to
// its id. This is the human in the loop.
async function approveNextPending(ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await fetch(`${MOCK_WINGMAN_URL}/approvals/pending`);
    const { pending } = await r.json();
    if (pending.length > 0) {
      const id = pending[0].request_id;
      const d = await fetch(`${MOCK_WINGMAN_URL}/approvals/${id}/approve`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ decided_by: 'sdk-test', note: 'approved by test' }),
      });
      assert.equal((await d.json()).status, 'APPROVED');
      return id;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('no approval request showed up');
}

test('mem0ai MemoryClient through the proxy: results and exact claims', async () => {
  assert.ok(PROXY_URL && MOCK_WINGMAN_URL && PROXY_BIN, 'run through harness.py');
  const client = new MemoryClient({ apiKey: 'sdk-secret-key', host: PROXY_URL });

  const added = await client.add([
    { role: 'user', content: 'I love pizza', name: 'Alice Smith' },
    { role: 'user', content: 'I am allergic to peanuts' },
  ], { userId: ALICE, metadata: { email: ALICE } });
  assert.equal(added.status, 'PENDING');
  assert.match(added.eventId, /^[0-9a-f-]{36}$/);

  const all = await client.getAll({ filters: { user_id: ALICE } });
  assert.equal(all.results.length, 2);
  const id = all.results[0].id;

  const one = await client.get(id);
  assert.equal(one.id, id);

  const found = await client.search('pizza', { filters: { user_id: ALICE } });
  assert.ok(found.results.length >= 1);

  const updated = await client.update(id, { text: 'Loves pizza a lot' });
  assert.equal(updated.id ?? id, id);

  const deleted = await client.delete(id);
  assert.match(deleted.message, /deleted/i);

  // deleteAll() is a bulk delete: the proxy holds it until a human
  // approves in Wingman. Approve from here once it shows up as pending.
  const approver = approveNextPending();
  const wiped = await client.deleteAll({ userId: ALICE });
  assert.match(wiped.message, /Delete in progress/);
  const approvalId = await approver;

  const u = pseudonym(ALICE);
  // Two claims are in flight at a time, so Wingman may record neighbours
  // out of order: put them back in request order (the expected list).
  const order = ['Stored', 'Exported', 'Read', 'Searched', 'Updated', 'Deleted',
    'Starting', 'Bulk'];
  const got = (await waitClaims(8)).sort((a, b) =>
    order.indexOf(a.split(' ')[0]) - order.indexOf(b.split(' ')[0]));
  const text = got.map((c) => c.replace(TAIL, ''));
  const ops = got.map((c) => {
    const m = c.match(TAIL);
    assert.ok(m, `claim without tail: ${c}`);
    return [m[1], m[2], m[3]];
  });
  assert.deepEqual(text, [
    `Stored memory event ${added.eventId} for user ${u}...`,
    `Exported 2 memories to /v3/memories/ for user ${u}...`,
    `Read memory ${id}`,
    `Searched memories for user ${u}...: ${found.results.length} results`,
    `Updated memory ${id}`,
    `Deleted memory ${id}`,
    `Starting bulk delete for user ${u}...: 1 items`,
    `Bulk delete for user ${u}...: 1 items`,
  ]);
  assert.deepEqual(ops, [
    ['create', 'POST', '200'], ['list', 'POST', '200'], ['read', 'GET', '200'],
    ['search', 'POST', '200'], ['update', 'PUT', '200'],
    ['delete-one', 'DELETE', '200'], ['bulk-delete', 'DELETE', undefined],
    ['bulk-delete', 'DELETE', '200'],
  ]);
  assert.ok(got[6].includes(`approval=${approvalId} `));
  assert.ok(got[7].includes(`approval=${approvalId} `));

  // The SDK's ping went through and is claimed too.
  assert.ok((await claims()).some((c) => c.startsWith('Ping [op=ping method=GET status=200')));

  // No PII anywhere in what Wingman holds, headers included.
  for (const c of await claims()) {
    for (const p of PII) {
      assert.ok(!c.toLowerCase().includes(p.toLowerCase()), `PII ${p} in claim: ${c}`);
    }
  }

  // The account email the SDK sends as a header was forwarded to Mem0.
  const reqs = await (await fetch(`${MOCK_MEM0_URL}/_mock/requests`)).json();
  const last = reqs[reqs.length - 1];
  const hdr = Object.fromEntries(last.headers.map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(hdr['mem0-user-id'], 'owner@example.com');
  assert.equal(hdr.authorization, 'Token sdk-secret-key');
});
