// The value generator: the values a user submits on the Create page for a Template, page by page.
//
// One generator for every test that needs form values (the scaffolder end-to-end test and the
// form check): a page starts from the values of the pages before it with every default filled
// the way the browser form fills them (RJSF's getDefaultFormState with `allOf:
// 'populateDefaults'`: optional fields' defaults too), then the "user" fills what the page
// requires and is still empty (json-schema-faker, seeded, required properties only, for the
// schema RJSF resolves for the current values), and the defaults are filled again, until nothing
// changes. Optional fields without a default stay empty. What this cannot produce (a `pattern`
// json-schema-faker cannot satisfy, contradictory constraints) shows up as a page that fails the
// browser validator, which the callers report.
import { generateSync } from 'json-schema-faker';
import { pageState, resolveSchema, templateSteps } from './scaffolder-form.mjs';

const isObject = v => typeof v === 'object' && v !== null && !Array.isArray(v);
const MAX_ROUNDS = 5;

/** A 32-bit seed from a string (FNV-1a), so a template always gets the same values. */
export function seedOf(text) {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(String(text))) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function isObjectSchema(s) {
  return isObject(s) && (s.type === 'object' || isObject(s.properties) || Array.isArray(s.required));
}

/** A value for `schema` (inside `pageSchema`), with the required properties of objects only. */
function invent(pageSchema, schema, seed) {
  const resolved = resolveSchema(pageSchema, isObject(schema) ? schema : {}, undefined);
  if (resolved.default !== undefined) return structuredClone(resolved.default);
  return generateSync(resolved, {
    seed,
    optionalsProbability: 0,
    alwaysFakeOptionals: false,
    useDefaultValue: true,
    fixedProbabilities: true,
    failOnInvalidTypes: false,
    maxDepth: 8,
  });
}

/** `value` with what `schema` requires and is missing filled in (a new value; input untouched). */
function fillRequired(pageSchema, schema, value, seed) {
  if (!isObject(schema)) return value;
  const resolved = resolveSchema(pageSchema, schema, value);
  if (isObject(value) && isObjectSchema(resolved)) {
    const out = { ...value };
    const props = isObject(resolved.properties) ? resolved.properties : {};
    for (const key of Array.isArray(resolved.required) ? resolved.required : []) {
      if (out[key] === undefined) out[key] = invent(pageSchema, props[key], seed ^ seedOf(key));
    }
    for (const [key, v] of Object.entries(out)) {
      if (isObject(props[key]) && (isObject(v) || Array.isArray(v)))
        out[key] = fillRequired(pageSchema, props[key], v, seed ^ seedOf(key));
    }
    return out;
  }
  if (Array.isArray(value) && isObject(resolved.items)) {
    // RJSF pads an array to `minItems` with empty (undefined) items: the user fills them.
    const out = value.map((item, i) =>
      item === undefined
        ? invent(pageSchema, resolved.items, seed + i)
        : fillRequired(pageSchema, resolved.items, item, seed + i),
    );
    const min = Number.isInteger(resolved.minItems) ? resolved.minItems : 0;
    while (out.length < min) out.push(invent(pageSchema, resolved.items, seed + out.length));
    return out;
  }
  return value;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The values for every page of `parameters`, as the Create page would submit them:
 * `{values, pages: [{title, step, formData}]}` where `formData` is what the page holds when the
 * user presses "Next" (the values so far merged with the page's own), and `values` what
 * "Create" sends.
 */
export function generateValues(parameters, seedText) {
  const seed = seedOf(seedText);
  let state = {};
  const pages = [];
  for (const step of templateSteps(parameters)) {
    let formData = pageState(step.schema, state);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const filled = pageState(step.schema, fillRequired(step.schema, step.schema, formData, seed));
      if (same(filled, formData)) break;
      formData = filled;
    }
    pages.push({ title: step.title, step, formData });
    state = { ...state, ...formData };
  }
  return { values: state, pages };
}
