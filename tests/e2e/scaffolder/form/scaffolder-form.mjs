// What the Backstage scaffolder's Create page does with a Template's `spec.parameters`, in Node.
//
// Read from @backstage/plugin-scaffolder-react 2.1.0 (the release that goes with
// scaffolder-common 2.3.0, ../../../../../shared/backstage-scaffolder/README.md), with its form stack at
// the same pins (package.json here): @rjsf/core, -utils, -validator-ajv8 5.24.13, ajv-errors 3.0.0,
// json-schema-library 9.3.5, react 18.3.1. What it does, and where:
//
// - `GET .../parameter-schema` turns every element of `spec.parameters` into a step
//   `{title: schema.title ?? 'Please enter the following information', description, schema}`
//   (scaffolder-backend 4.2.0, dist/service/router.cjs.js);
// - each step: every `ui:*` key moves from the schema into the uiSchema (`extractSchemaFromStep`,
//   dist/next/lib/schema.esm.js, copied below as it is); steps and properties behind a feature
//   flag are dropped (no flag is active here); the step's `title` is dropped
//   (dist/next/hooks/useTemplateSchema.esm.js);
// - one validator for every page: `customizeValidator()` with no options, then
//   `ajvErrors(validator.ajv)` (dist/next/components/Stepper/Stepper.esm.js);
// - the Form (`@rjsf/core` withTheme) gets `formData` = the values of all pages so far,
//   `experimental_defaultFormStateBehavior: {allOf: 'populateDefaults'}`, and `widgets:
//   {password: PasswordWidget}`; RJSF fills defaults with `getDefaultFormState` and validates the
//   page on submit against `retrieveSchema(schema, formData)`;
// - on "Next", `createAsyncValidators` walks the page's original schema with json-schema-library
//   Draft07 and throws when a pointer does not resolve (dist/next/components/Stepper/
//   createAsyncValidators.esm.js); field-extension validators run there, none are registered here;
// - "Create" sends the values of all pages merged (`{...state, ...page formData}` per page).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { parse, stringify } = require('flatted');
const { customizeValidator } = require('@rjsf/validator-ajv8');
const ajvErrors = require('ajv-errors');
const { createSchemaUtils } = require('@rjsf/utils');
const { default: Form, getDefaultRegistry } = require('@rjsf/core');
const { Draft07 } = require('json-schema-library');
const React = require('react');
const { renderToString } = require('react-dom/server');

export const DEFAULT_STEP_TITLE = 'Please enter the following information';
export const DEFAULT_FORM_STATE_BEHAVIOR = { allOf: 'populateDefaults' };

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// --- scaffolder-react 2.1.0, dist/next/lib/schema.esm.js (unchanged) -----------------------------
function extractUiSchema(schema, uiSchema) {
  if (!isObject(schema)) {
    return;
  }
  const { properties, items, anyOf, oneOf, allOf, dependencies, then, else: _else } = schema;
  for (const propName in schema) {
    if (!schema.hasOwnProperty(propName)) {
      continue;
    }
    if (propName.startsWith('ui:')) {
      uiSchema[propName] = schema[propName];
      delete schema[propName];
    }
  }
  if (isObject(properties)) {
    for (const propName in properties) {
      if (!properties.hasOwnProperty(propName)) {
        continue;
      }
      const schemaNode = properties[propName];
      if (!isObject(schemaNode)) {
        continue;
      }
      if (!isObject(uiSchema[propName])) {
        const innerUiSchema = {};
        uiSchema[propName] = innerUiSchema;
      }
      extractUiSchema(schemaNode, uiSchema[propName]);
    }
  }
  if (isObject(items)) {
    const innerUiSchema = {};
    uiSchema.items = innerUiSchema;
    extractUiSchema(items, innerUiSchema);
  }
  for (const list of [anyOf, oneOf, allOf]) {
    if (Array.isArray(list)) {
      for (const schemaNode of list) {
        if (!isObject(schemaNode)) {
          continue;
        }
        extractUiSchema(schemaNode, uiSchema);
      }
    }
  }
  if (isObject(dependencies)) {
    for (const depName of Object.keys(dependencies)) {
      const schemaNode = dependencies[depName];
      if (!isObject(schemaNode)) {
        continue;
      }
      extractUiSchema(schemaNode, uiSchema);
    }
  }
  if (isObject(then)) {
    extractUiSchema(then, uiSchema);
  }
  if (isObject(_else)) {
    extractUiSchema(_else, uiSchema);
  }
}

export function extractSchemaFromStep(inputStep) {
  const uiSchema = {};
  const returnSchema = parse(stringify(inputStep));
  extractUiSchema(returnSchema, uiSchema);
  return { uiSchema, schema: returnSchema };
}

// --- useTemplateSchema (2.1.0) with no feature flag active ----------------------------------------
const flagged = uiSchema => Boolean(uiSchema?.['ui:backstage']?.featureFlag);

/** The steps the Create page shows for `spec.parameters` (an array, or one object). */
export function templateSteps(parameters) {
  const manifestSteps = [parameters ?? []].flat().map(schema => ({
    title: schema?.title ?? DEFAULT_STEP_TITLE,
    description: schema?.description,
    schema,
  }));
  return manifestSteps
    .map(({ title, description, schema }) => ({
      title,
      description,
      mergedSchema: schema,
      ...extractSchemaFromStep(schema),
    }))
    .filter(step => !flagged(step.uiSchema))
    .map(step => {
      const { title: _dropped, ...stepSchema } = step.schema;
      const stripped = { ...step, schema: { ...stepSchema } };
      if (step.schema?.properties || !step.schema?.dependencies) {
        stripped.schema.properties = Object.fromEntries(
          Object.entries(step.schema?.properties ?? {}).filter(
            ([key]) => !flagged(step.uiSchema[key]),
          ),
        );
      }
      return stripped;
    });
}

// --- Stepper.esm.js: the validator ---------------------------------------------------------------
export const validator = customizeValidator();
ajvErrors(validator.ajv);

const schemaUtilsCache = new WeakMap();
function schemaUtilsFor(schema) {
  let utils = schemaUtilsCache.get(schema);
  if (!utils) {
    utils = createSchemaUtils(validator, schema, DEFAULT_FORM_STATE_BEHAVIOR);
    schemaUtilsCache.set(schema, utils);
  }
  return utils;
}

/** The form state RJSF shows for a page: `formData` with every default filled. */
export function pageState(schema, formData) {
  return schemaUtilsFor(schema).getDefaultFormState(schema, formData);
}

/**
 * `schema` (the page's, or one inside it) resolved against `formData` as RJSF resolves it
 * (`$ref`s against the page, allOf merged, if/then/else and dependencies applied).
 */
export function resolveSchema(pageSchema, schema, formData) {
  return schemaUtilsFor(pageSchema).retrieveSchema(schema, formData);
}

/** Compiles the page schema with the form's ajv; a message when it cannot ("schema is invalid"). */
export function compileError(schema) {
  try {
    validator.ajv.compile(schema);
    return undefined;
  } catch (e) {
    // ajv's message starts with "schema is invalid", as the page shows it.
    return e.message;
  } finally {
    validator.ajv.removeSchema(schema);
  }
}

/** RJSF's submit-time validation of a page: the error messages (none when valid). */
export function submitErrors(schema, formData) {
  const utils = schemaUtilsFor(schema);
  const retrieved = utils.retrieveSchema(schema, formData);
  const { errors } = utils.getValidator().validateFormData(formData, retrieved);
  return errors.map(e => e.stack);
}

// --- createAsyncValidators.esm.js, with no field-extension validator ------------------------------
const isJsonError = value => 'type' in value && value.type === 'error';

/** The "Next" walk; throws what the page would show when a value's schema cannot be resolved. */
export function nextStepWalk(mergedSchema, formData) {
  const parsedSchema = new Draft07(mergedSchema);
  const walk = (pathPrefix, current) => {
    for (const [key, value] of Object.entries(current)) {
      const pointer = `${pathPrefix}/${key}`;
      const definitionInSchema = parsedSchema.getSchema({ pointer, data: formData });
      if (!definitionInSchema) continue;
      if (isJsonError(definitionInSchema)) throw new Error(definitionInSchema.message);
      const hasItems = definitionInSchema && definitionInSchema.items;
      if ('ui:field' in definitionInSchema) continue;
      if (hasItems && ('ui:field' in definitionInSchema.items || definitionInSchema.items.type === 'object'))
        continue;
      if (isObject(value)) walk(pointer, value);
    }
  };
  walk('#', formData);
}

// --- rendering -----------------------------------------------------------------------------------
const registry = getDefaultRegistry();
const widgets = { password: registry.widgets.PasswordWidget };

// What RJSF renders in place of a part of the form it cannot show (core 5.24.13: ObjectField's
// "Invalid object field configuration", UnsupportedFieldTemplate's "Unsupported field schema").
const RENDERED_ERRORS = [
  /<p class="config-error"[^>]*>(.*?)<\/p>/,
  /<div class="unsupported-field"[^>]*>(.*?)<\/div>/,
];

/**
 * The page as `@rjsf/core` renders it (HTML). Throws what the Create page would show instead:
 * the error RJSF throws (`No widget 'X' for type 'string'`), or the message it renders in place
 * of a part it cannot show.
 */
export function renderPage(step, formData) {
  const html = renderToString(
    React.createElement(Form, {
      validator,
      formData,
      formContext: { formData },
      schema: step.schema,
      uiSchema: step.uiSchema,
      widgets,
      showErrorList: 'top',
      experimental_defaultFormStateBehavior: DEFAULT_FORM_STATE_BEHAVIOR,
    }),
  );
  for (const pattern of RENDERED_ERRORS) {
    const found = html.match(pattern);
    if (found) throw new Error(found[1].replace(/<[^>]+>/g, '').replace(/&quot;/g, '"').replace(/&#x27;/g, "'"));
  }
  return html;
}
