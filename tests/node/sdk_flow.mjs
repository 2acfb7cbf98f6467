// The official OpenAI Node SDK, unmodified, against a running `ftsim serve` (started by tests/node/test_node_sdk.py).
//
// Input (environment): FTSIM_BASE (the server's root URL), FTSIM_KEY (an OpenAI key the server accepts),
// FTSIM_ADMIN_KEY (an admin key of that key's organization and project), FTSIM_SIM_KEY (the server's sim key, for
// /_sim), FTSIM_AZURE_KEY (an Azure account's key), FTSIM_TRAIN (a training JSONL file whose rows teach
// "question N" -> "answer N").
// Output: one JSON object on stdout, {"sdk": {...}, "steps": {name: result}}. A step that throws is recorded as
// {"step_failed": {...}} and the script goes on, so the pytest side names the step that broke.

import fs from 'node:fs';
import OpenAI, { AzureOpenAI, toFile } from 'openai';
import { VERSION } from 'openai/version';

const BASE = process.env.FTSIM_BASE;
const KEY = process.env.FTSIM_KEY;
const SIM_KEY = process.env.FTSIM_SIM_KEY;
const AZURE_KEY = process.env.FTSIM_AZURE_KEY;
const ADMIN_KEY = process.env.FTSIM_ADMIN_KEY;
const TRAIN = process.env.FTSIM_TRAIN;
const MODEL = 'gpt-4.1-mini-2025-04-14';
const AZURE_API_VERSION = '2025-04-01-preview';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

const steps = {};
const state = {};

function describe(err) {
  if (err instanceof OpenAI.APIError) {
    return { class: err.constructor.name, status: err.status ?? null, code: err.code ?? null,
             param: err.param ?? null, type: err.type ?? null, message: err.message,
             request_id: err.requestID ?? null };
  }
  return { class: err?.constructor?.name ?? typeof err, message: String(err?.message ?? err),
           stack: String(err?.stack ?? '').split('\n').slice(0, 6).join('\n') };
}

async function step(name, fn) {
  try {
    steps[name] = await fn();
  } catch (err) {
    steps[name] = { step_failed: describe(err) };
  }
}

// The error an SDK call raises, described; a call that succeeds is itself the finding.
async function failure(fn) {
  try {
    await fn();
  } catch (err) {
    return { raised: true, ...describe(err) };
  }
  return { raised: false };
}

async function sim(path, body) {
  const response = await fetch(BASE + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ftsim-sim-key': SIM_KEY },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

// Move the simulated clock an hour at a time until the job is terminal (bounded: 500 simulated hours).
async function runToEnd(client, jobId) {
  let job = await client.fineTuning.jobs.retrieve(jobId);
  const seen = [job.status];
  for (let i = 0; i < 500 && !TERMINAL.has(job.status); i++) {
    await sim('/_sim/clock/advance', { seconds: 3600 });
    job = await client.fineTuning.jobs.retrieve(jobId);
    if (seen[seen.length - 1] !== job.status) seen.push(job.status);
  }
  return { job, seen };
}

const client = new OpenAI({ apiKey: KEY, baseURL: `${BASE}/v1`, maxRetries: 0, timeout: 30_000 });

await step('upload_stream', async () => {
  const file = await client.files.create({ file: fs.createReadStream(TRAIN), purpose: 'fine-tune' });
  state.trainId = file.id;
  return { id: file.id, object: file.object, purpose: file.purpose, filename: file.filename, bytes: file.bytes,
           status: file.status, request_id: file._request_id ?? null };
});

await step('upload_to_file', async () => {
  const rows = fs.readFileSync(TRAIN);
  // expires_after goes in the multipart form as expires_after[anchor] and expires_after[seconds]
  const file = await client.files.create({ file: await toFile(rows, 'second.jsonl'), purpose: 'fine-tune',
                                           expires_after: { anchor: 'created_at', seconds: 7200 } });
  state.secondId = file.id;
  const listed = [];
  for await (const f of client.files.list({ limit: 1 })) listed.push(f.id);
  const content = await (await client.files.content(file.id)).text();
  return { id: file.id, filename: file.filename, bytes: file.bytes, listed, same_bytes: content === rows.toString(),
           expires_in: file.expires_at - file.created_at };
});

await step('create_jobs', async () => {
  const job = await client.fineTuning.jobs.create({ model: MODEL, training_file: state.trainId, suffix: 'nodesdk',
                                                    seed: 11, metadata: { team: 'node sdk' } });
  const other = await client.fineTuning.jobs.create({ model: MODEL, training_file: state.secondId });
  state.jobId = job.id;
  state.otherId = other.id;
  return { id: job.id, object: job.object, status: job.status, model: job.model, seed: job.seed, metadata: job.metadata,
           training_file: job.training_file, fine_tuned_model: job.fine_tuned_model, other_id: other.id,
           other_status: other.status };
});

await step('list_jobs_auto_paginated', async () => {
  const ids = [];
  for await (const job of client.fineTuning.jobs.list({ limit: 1 })) ids.push(job.id);
  const page = await client.fineTuning.jobs.list({ limit: 1 });
  const after = await client.fineTuning.jobs.list({ after: page.data[0].id });
  // metadata filters go in the query as metadata[team]=...
  const tagged = await client.fineTuning.jobs.list({ metadata: { team: 'node sdk' } });
  const none = await client.fineTuning.jobs.list({ metadata: { team: 'python' } });
  return { ids, first_page: page.data.map((j) => j.id), first_has_more: page.has_more,
           has_next_page: page.hasNextPage(), after_first: after.data.map((j) => j.id),
           tagged: tagged.data.map((j) => j.id), untagged: none.data.map((j) => j.id) };
});

await step('retrieve_job', async () => {
  const { data: job, response } = await client.fineTuning.jobs.retrieve(state.jobId).withResponse();
  return { id: job.id, status: job.status, request_id: job._request_id ?? null,
           content_type: response.headers.get('content-type') };
});

await step('cancel_other_job', async () => {
  const job = await client.fineTuning.jobs.cancel(state.otherId);
  const again = await client.fineTuning.jobs.retrieve(state.otherId);
  const twice = await failure(() => client.fineTuning.jobs.cancel(state.otherId));
  return { status: job.status, retrieved_status: again.status, cancel_twice: twice };
});

await step('run_to_succeeded', async () => {
  const { job, seen } = await runToEnd(client, state.jobId);
  state.tuned = job.fine_tuned_model;
  return { status: job.status, statuses_seen: seen, fine_tuned_model: job.fine_tuned_model,
           trained_tokens: job.trained_tokens, finished_at: job.finished_at, created_at: job.created_at,
           result_files: job.result_files, error: job.error ?? null };
});

await step('events', async () => {
  const walked = [];
  for await (const e of client.fineTuning.jobs.listEvents(state.jobId, { limit: 7 })) walked.push(e);
  const wide = [];
  for await (const e of client.fineTuning.jobs.listEvents(state.jobId, { limit: 100 })) wide.push(e);
  return { walked_ids: walked.map((e) => e.id), wide_ids: wide.map((e) => e.id),
           newest: walked[0]?.message ?? null, oldest: walked[walked.length - 1]?.message ?? null,
           object: walked[0]?.object ?? null, metrics: walked.filter((e) => e.type === 'metrics').length };
});

await step('checkpoints', async () => {
  const walked = [];
  for await (const c of client.fineTuning.jobs.checkpoints.list(state.jobId, { limit: 1 })) walked.push(c);
  return { steps: walked.map((c) => c.step_number), names: walked.map((c) => c.fine_tuned_model_checkpoint),
           object: walked[0]?.object ?? null, job_ids: [...new Set(walked.map((c) => c.fine_tuning_job_id))] };
});

// a third job, paused and resumed while it trains, then cancelled
await step('pause_resume', async () => {
  const job = await client.fineTuning.jobs.create({ model: MODEL, training_file: state.secondId, suffix: 'paused' });
  let now = job;
  for (let i = 0; i < 500 && now.status !== 'running' && !TERMINAL.has(now.status); i++) {
    await sim('/_sim/clock/advance', { seconds: 5 });
    now = await client.fineTuning.jobs.retrieve(job.id);
  }
  const running = now.status;
  const paused = await client.fineTuning.jobs.pause(job.id);
  await sim('/_sim/clock/advance', { seconds: 7200 });
  const still = await client.fineTuning.jobs.retrieve(job.id);
  const resumed = await client.fineTuning.jobs.resume(job.id);
  const cancelled = await client.fineTuning.jobs.cancel(job.id);
  return { running, paused: paused.status, after_a_paused_while: still.status, resumed: resumed.status,
           cancelled: cancelled.status };
});

// the Uploads API: create, two parts sent as multipart `data`, complete into a File
await step('uploads', async () => {
  const rows = fs.readFileSync(TRAIN);
  const half = rows.indexOf('\n', Math.floor(rows.length / 2)) + 1;
  const upload = await client.uploads.create({ bytes: rows.length, filename: 'parts.jsonl',
                                               mime_type: 'text/jsonl', purpose: 'fine-tune' });
  const first = await client.uploads.parts.create(upload.id, { data: await toFile(rows.subarray(0, half), 'a') });
  const second = await client.uploads.parts.create(upload.id, { data: await toFile(rows.subarray(half), 'b') });
  const done = await client.uploads.complete(upload.id, { part_ids: [first.id, second.id] });
  const file = await client.files.waitForProcessing(done.file.id);
  const content = await (await client.files.content(file.id)).text();
  const deleted = await client.files.delete(file.id);
  const gone = await failure(() => client.files.retrieve(file.id));
  return { upload_status: upload.status, completed: done.status, file_status: file.status, filename: file.filename,
           bytes: file.bytes, same_bytes: content === rows.toString(), deleted: deleted.deleted, retrieve_after: gone };
});

// the SDK's retries against injected faults: it honours retry-after-ms and x-should-retry
await step('retries', async () => {
  const retrying = new OpenAI({ apiKey: KEY, baseURL: `${BASE}/v1`, maxRetries: 2, timeout: 30_000 });
  const flaky = await sim('/_sim/faults', { method: 'GET', path: '/v1/fine_tuning/jobs', status: 429, times: 2,
                                            api_key: KEY });
  const page = await retrying.fineTuning.jobs.list({ limit: 1 });
  const final = await sim('/_sim/faults', { method: 'GET', path: '/v1/models', status: 500, times: 2,
                                            should_retry: false, api_key: KEY });
  const refused = await failure(() => retrying.models.list());
  const limited = await sim('/_sim/faults', { method: 'POST', path: '/v1/files', status: 429, times: 1,
                                              api_key: KEY });
  const once = await failure(() => client.files.create({ file: fs.createReadStream(TRAIN), purpose: 'fine-tune' }));
  const hits = async (id) => {
    const response = await fetch(`${BASE}/_sim/faults/${id}`, { headers: { 'x-ftsim-sim-key': SIM_KEY } });
    return (await response.json()).hits;
  };
  const result = { listed_after_two_429: page.data.length, flaky_hits: await hits(flaky.id),
                   no_retry_error: refused, no_retry_hits: await hits(final.id),
                   rate_limited: once, rate_limited_hits: await hits(limited.id) };
  const cleared = await fetch(`${BASE}/_sim/faults`, { method: 'DELETE', headers: { 'x-ftsim-sim-key': SIM_KEY } });
  if (cleared.status !== 200) throw new Error(`DELETE /_sim/faults: ${cleared.status}`);
  return result;
});

// OpenAI-Organization / OpenAI-Project from the client's options
await step('organization_headers', async () => {
  const scoped = new OpenAI({ apiKey: KEY, baseURL: `${BASE}/v1`, organization: 'org-node', project: 'proj_node',
                              maxRetries: 0 });
  const page = await scoped.fineTuning.jobs.list({ limit: 1 });
  const other = new OpenAI({ apiKey: KEY, baseURL: `${BASE}/v1`, organization: 'org-someone-else', maxRetries: 0 });
  return { listed: page.data.length, other_org: await failure(() => other.fineTuning.jobs.list()) };
});

// checkpoint permissions: an admin key (the SDK sends these calls with `adminAPIKey` only); the checkpoint's name,
// colons and all, in the path; the list pages by `last_id`
await step('checkpoint_permissions', async () => {
  const admin = new OpenAI({ adminAPIKey: ADMIN_KEY, baseURL: `${BASE}/v1`, maxRetries: 0, timeout: 30_000 });
  const ckpt = steps.checkpoints.names[1];
  const created = [];
  for await (const p of admin.fineTuning.checkpoints.permissions.create(ckpt, {
    project_ids: ['proj_a', 'proj_b', 'proj_c'] })) created.push(p.project_id);
  const walked = [];
  for await (const p of admin.fineTuning.checkpoints.permissions.list(ckpt, { limit: 2 })) walked.push(p);
  const deleted = await admin.fineTuning.checkpoints.permissions.delete(walked[0].id,
                                                                         { fine_tuned_model_checkpoint: ckpt });
  const left = [];
  for await (const p of admin.fineTuning.checkpoints.permissions.list(ckpt)) left.push(p.project_id);
  return { created, listed: walked.map((p) => p.project_id), deleted: deleted.deleted, deleted_id: deleted.id,
           first_id: walked[0].id, left };
});

await step('retrieve_model', async () => {
  const model = await client.models.retrieve(state.tuned);
  const listed = [];
  for await (const m of client.models.list()) listed.push(m.id);
  return { id: model.id, object: model.object, owned_by: model.owned_by, listed: listed.includes(state.tuned) };
});

await step('chat', async () => {
  const reply = await client.chat.completions.create({
    model: state.tuned, messages: [{ role: 'user', content: 'question 7' }] });
  return { model: reply.model, content: reply.choices[0].message.content, finish: reply.choices[0].finish_reason,
           object: reply.object, usage: reply.usage };
});

await step('chat_stream', async () => {
  const { data: stream, response, request_id: requestId } = await client.chat.completions.create({
    model: state.tuned, messages: [{ role: 'user', content: 'question 3' }], stream: true,
    stream_options: { include_usage: true } }).withResponse();
  let content = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    chunks += 1;
    for (const choice of chunk.choices) {
      content += choice.delta?.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  // the SDK's stream helper, which assembles the final message itself
  const helper = client.chat.completions.stream({ model: state.tuned,
                                                  messages: [{ role: 'user', content: 'question 4' }] });
  const final = await helper.finalChatCompletion();
  return { content, chunks, usage, finish, helper_content: final.choices[0].message.content,
           request_id: requestId, content_type: response.headers.get('content-type') };
});

// leaving a stream early aborts its request; the server serves the next call as usual
await step('stream_abandoned', async () => {
  const stream = await client.chat.completions.create({
    model: state.tuned, messages: [{ role: 'user', content: 'question 6' }], stream: true });
  let seen = 0;
  for await (const chunk of stream) {
    seen += 1;
    if (seen === 2) break;
  }
  const next = await client.chat.completions.create({
    model: state.tuned, messages: [{ role: 'user', content: 'question 8' }] });
  return { seen, next: next.choices[0].message.content };
});

await step('graders', async () => {
  const grader = { type: 'string_check', name: 'same', input: '{{sample.output_text}}', reference: '{{item.answer}}',
                   operation: 'eq' };
  const hit = await client.fineTuning.alpha.graders.run({ grader, model_sample: 'answer 1', item: { answer: 'answer 1' } });
  const miss = await client.fineTuning.alpha.graders.run({ grader, model_sample: 'answer 2', item: { answer: 'answer 1' } });
  const valid = await client.fineTuning.alpha.graders.validate({ grader });
  return { hit: hit.reward, miss: miss.reward, validated: valid.grader?.name ?? null };
});

await step('responses', async () => {
  const reply = await client.responses.create({ model: state.tuned, input: 'question 9' });
  let streamed = '';
  const stream = await client.responses.create({ model: state.tuned, input: 'question 2', stream: true });
  const types = new Set();
  for await (const event of stream) {
    types.add(event.type);
    if (event.type === 'response.output_text.delta') streamed += event.delta;
  }
  return { output_text: reply.output_text, status: reply.status, streamed, completed: types.has('response.completed') };
});

await step('errors', async () => ({
  unknown_job: await failure(() => client.fineTuning.jobs.retrieve('ftjob-doesnotexist000000000000')),
  unknown_model: await failure(() => client.fineTuning.jobs.create({ model: 'gpt-nope', training_file: state.trainId })),
  bad_training_file: await failure(() => client.fineTuning.jobs.create({ model: MODEL,
                                                                         training_file: 'file-doesnotexist' })),
  bad_key: await failure(() => new OpenAI({ apiKey: 'sk-not-a-listed-key', baseURL: `${BASE}/v1`, maxRetries: 0 })
    .fineTuning.jobs.list()),
}));

// typed errors: `instanceof` on the SDK's own classes, as a user's code tests them
await step('error_classes', async () => {
  const kinds = {};
  const check = async (name, fn) => {
    try {
      await fn();
      kinds[name] = 'no error';
    } catch (err) {
      kinds[name] = [
        err instanceof OpenAI.NotFoundError && 'NotFoundError',
        err instanceof OpenAI.BadRequestError && 'BadRequestError',
        err instanceof OpenAI.AuthenticationError && 'AuthenticationError',
        err instanceof OpenAI.APIError && 'APIError',
      ].filter(Boolean);
    }
  };
  await check('unknown_job', () => client.fineTuning.jobs.retrieve('ftjob-doesnotexist000000000000'));
  await check('unknown_model', () => client.fineTuning.jobs.create({ model: 'gpt-nope', training_file: state.trainId }));
  await check('bad_training_file', () => client.fineTuning.jobs.create({ model: MODEL,
                                                                          training_file: 'file-doesnotexist' }));
  await check('bad_key', () => new OpenAI({ apiKey: 'sk-not-a-listed-key', baseURL: `${BASE}/v1`, maxRetries: 0 })
    .models.list());
  return kinds;
});

await step('delete_model', async () => {
  const deleted = await client.models.delete(state.tuned);
  const after = await failure(() => client.chat.completions.create({
    model: state.tuned, messages: [{ role: 'user', content: 'question 7' }] }));
  return { id: deleted.id, deleted: deleted.deleted, chat_after: after };
});

// Azure OpenAI: the SDK's own AzureOpenAI client, its `endpoint` the local server (it calls `{endpoint}/openai/...`
// with `?api-version=` and the `api-key` header).
const azure = new AzureOpenAI({ endpoint: BASE, apiKey: AZURE_KEY, apiVersion: AZURE_API_VERSION, maxRetries: 0,
                                timeout: 30_000 });

await step('azure_upload_and_job', async () => {
  const file = await azure.files.create({ file: fs.createReadStream(TRAIN), purpose: 'fine-tune' });
  // Azure's training type is not in the SDK's types: sent as an extra body field, as the Python SDK's extra_body
  const job = await azure.fineTuning.jobs.create({ model: MODEL, training_file: file.id,
                                                   trainingType: 'GlobalStandard' });
  state.azureJob = job.id;
  const listed = [];
  for await (const j of azure.fineTuning.jobs.list({ limit: 1 })) listed.push(j.id);
  return { file_id: file.id, file_status: file.status, id: job.id, status: job.status,
           organization_id: job.organization_id, listed };
});

await step('azure_run_to_succeeded', async () => {
  const { job, seen } = await runToEnd(azure, state.azureJob);
  state.azureTuned = job.fine_tuned_model;
  const events = [];
  for await (const e of azure.fineTuning.jobs.listEvents(state.azureJob, { limit: 10 })) events.push(e.id);
  const checkpoints = [];
  for await (const c of azure.fineTuning.jobs.checkpoints.list(state.azureJob)) checkpoints.push(c.id);
  return { status: job.status, statuses_seen: seen, fine_tuned_model: job.fine_tuned_model,
           organization_id: job.organization_id, event_ids: events, checkpoint_ids: checkpoints };
});

await step('azure_deployment_chat', async () => {
  const arm = `/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/node/deployments/`
    + `nodebot?api-version=2024-10-21`;
  const put = await fetch(BASE + arm, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${AZURE_KEY}` },
    body: JSON.stringify({ sku: { name: 'GlobalStandard', capacity: 1 },
                           properties: { model: { format: 'OpenAI', name: state.azureTuned, version: '1' } } }),
  });
  if (put.status !== 201) throw new Error(`PUT deployment: ${put.status} ${await put.text()}`);
  await sim('/_sim/clock/advance', { seconds: 600 });
  // the AzureOpenAI client turns `model` into the path /openai/deployments/nodebot/chat/completions
  const reply = await azure.chat.completions.create({ model: 'nodebot',
                                                      messages: [{ role: 'user', content: 'question 5' }] });
  let streamed = '';
  const stream = await azure.chat.completions.create({ model: 'nodebot', stream: true,
                                                       messages: [{ role: 'user', content: 'question 4' }] });
  for await (const chunk of stream) for (const c of chunk.choices) streamed += c.delta?.content ?? '';
  // a client bound to the deployment (`deployment` option: its base URL ends in /deployments/nodebot)
  const bound = new AzureOpenAI({ endpoint: BASE, apiKey: AZURE_KEY, apiVersion: AZURE_API_VERSION,
                                  deployment: 'nodebot', maxRetries: 0 });
  const boundReply = await bound.chat.completions.create({ model: '', messages: [{ role: 'user', content: 'question 6' }] });
  return { content: reply.choices[0].message.content, streamed, usage: reply.usage,
           bound: boundReply.choices[0].message.content };
});

// the other ways in: an Entra token provider (Authorization: Bearer) and Azure's /openai/v1 path with the plain
// OpenAI client, as Microsoft's v1 guide sets it up
await step('azure_other_clients', async () => {
  const entra = new AzureOpenAI({ endpoint: BASE, apiVersion: AZURE_API_VERSION, maxRetries: 0,
                                  azureADTokenProvider: async () => AZURE_KEY });
  const viaToken = [];
  for await (const j of entra.fineTuning.jobs.list()) viaToken.push(j.id);
  const v1 = new OpenAI({ apiKey: AZURE_KEY, baseURL: `${BASE}/openai/v1/`, maxRetries: 0 });
  const viaV1 = [];
  for await (const j of v1.fineTuning.jobs.list()) viaV1.push(j.id);
  const job = await v1.fineTuning.jobs.retrieve(state.azureJob);
  return { via_token: viaToken, via_v1: viaV1, v1_status: job.status, v1_org: job.organization_id };
});

await step('azure_errors', async () => ({
  unknown_job: await failure(() => azure.fineTuning.jobs.retrieve('ftjob-00000000000000000000000000000000')),
  bad_key: await failure(() => new AzureOpenAI({ endpoint: BASE, apiKey: 'az-not-listed',
                                                 apiVersion: AZURE_API_VERSION, maxRetries: 0 })
    .fineTuning.jobs.list()),
  unknown_deployment: await failure(() => azure.chat.completions.create({
    model: 'no-such-deployment', messages: [{ role: 'user', content: 'x' }] })),
}));

process.stdout.write(JSON.stringify({ sdk: { version: VERSION, node: process.version }, steps }) + '\n');
