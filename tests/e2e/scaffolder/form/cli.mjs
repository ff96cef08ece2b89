// Command line for the Rust tests: reads one JSON document on stdin, writes one on stdout.
//
//   node form/cli.mjs values   [{name, parameters}]            -> {<name>: values}
//   node form/cli.mjs check    [{name, parameters, original?, snapshot?}] -> [result]
//
// `values` is the value generator (values.mjs) the scaffolder end-to-end test submits.
// `check` is the form check: for each template, each page's schema compiles with the browser
// form's ajv, renders with @rjsf/core (renderToString), and the generated values pass the browser
// validator (RJSF's submit validation and the "Next" walk) and the scaffolder backend's own check
// (jsonschema against every page, what `POST /v2/tasks` answers 400 for). With `original` (the
// workflow's resolved input schema), the submitted values are validated against it too (ajv 8,
// draft-07). With `snapshot`, each page's schema and uiSchema (as the Create page splits them)
// and what the page renders for each field are returned as well.
//
// result: {name, values, pages: [{title, problems: [string]}], original: [string] | null,
//          snapshots?: [{title, schema, uiSchema, rendered}]}
import { createRequire } from 'node:module';
import { generateValues } from './values.mjs';
import { compileError, nextStepWalk, renderPage, submitErrors } from './scaffolder-form.mjs';

const require = createRequire(import.meta.url);
const jsonschema = require('jsonschema');
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const readStdin = async () => {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
};

const message = e => (e && e.message) || String(e);

/** Errors of `values` against the workflow's own input schema (ajv 8, draft-07). */
function originalErrors(schema, values) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (e) {
    return [`the original input schema does not compile: ${message(e)}`];
  }
  if (validate(values)) return [];
  return validate.errors.map(e => `${e.instancePath || '/'} ${e.message}`);
}

/**
 * What a page renders for each field, by RJSF's field id (`root_<key>_<key>`), in document
 * order: the form element (`input[type]`, `select`, `textarea`, `fieldset` for an object or a
 * list; `readonly`/`disabled` when set) and its description text, e.g.
 * `{"root_a_n": "input[text], text: enter n"}`; a field shown only as text has no element.
 */
function renderedFields(html) {
  const found = new Map();
  const add = (id, what) => found.set(id, [...(found.get(id) ?? []), what]);
  const attr = (attrs, name) => attrs.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1];
  const element = /<(input|select|textarea|fieldset)\b([^>]*)>/g;
  const description = /<[a-z]+ id="([^"]+)__description"[^>]*>(.*?)<\/[a-z]+>/g;
  const events = [];
  for (const m of html.matchAll(element)) {
    const id = attr(m[2], 'id');
    if (!id) continue;
    let what = m[1] === 'input' ? `input[${attr(m[2], 'type') ?? 'text'}]` : m[1];
    if (/\breadonly=""/.test(m[2])) what += ' readonly';
    if (/\bdisabled=""/.test(m[2])) what += ' disabled';
    events.push([m.index, id, what]);
  }
  for (const m of html.matchAll(description)) {
    events.push([m.index, m[1], `text: ${m[2].replace(/<[^>]+>/g, '')}`]);
  }
  events.sort((a, b) => a[0] - b[0]);
  for (const [, id, what] of events) add(id, what);
  return Object.fromEntries([...found].map(([id, whats]) => [id, whats.join(', ')]));
}

function check({ name, parameters, original, snapshot }) {
  const { values, pages } = generateValues(parameters, name);
  const result = { name, values, pages: [], original: null };
  if (snapshot) result.snapshots = [];
  for (const { title, step, formData } of pages) {
    const problems = [];
    const invalid = compileError(step.schema);
    if (invalid) problems.push(invalid);
    let html;
    try {
      html = renderPage(step, formData);
    } catch (e) {
      problems.push(`does not render: ${message(e)}`);
    }
    const errors = invalid ? [] : submitErrors(step.schema, formData);
    if (errors.length) problems.push(`the generated values fail the browser validator: ${errors.join('; ')}`);
    try {
      nextStepWalk(step.mergedSchema, formData);
    } catch (e) {
      problems.push(`"Next" fails: ${message(e)}`);
    }
    const server = jsonschema.validate(values, step.mergedSchema);
    if (!server.valid)
      problems.push(`the scaffolder backend rejects the values: ${server.errors.map(e => e.stack).join('; ')}`);
    result.pages.push({ title, problems });
    if (snapshot)
      result.snapshots.push({
        title,
        schema: step.schema,
        uiSchema: step.uiSchema,
        rendered: html === undefined ? null : renderedFields(html),
      });
  }
  if (original !== undefined && original !== null) result.original = originalErrors(original, values);
  return result;
}

const [command] = process.argv.slice(2);
const input = await readStdin();
let output;
switch (command) {
  case 'values':
    output = Object.fromEntries(input.map(t => [t.name, generateValues(t.parameters, t.name).values]));
    break;
  case 'check':
    output = input.map(check);
    break;
  default:
    console.error(`usage: node form/cli.mjs values|check < input.json (got ${command ?? 'nothing'})`);
    process.exit(2);
}
process.stdout.write(JSON.stringify(output));
