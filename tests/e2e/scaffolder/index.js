// Real Backstage backend with the catalog, the scaffolder and RHDH's `orchestrator:workflow:run`
// action, used as a test peer by the Rust e2e tests (tests/support/scaffolder.rs), plus a
// stand-in for the orchestrator backend's execute endpoint that records what it receives.
// Plain CommonJS, no TypeScript build. Pins: ../../../../shared/backstage-scaffolder (one
// Backstage release older than ../backstage, because the RHDH module is built against
// scaffolder-node 0.13).
//
// Env:
//   BACKSTAGE_PORT, BACKSTAGE_TOKEN  see app-config.yaml
//   ORCHESTRATOR_CALLS_FILE  where the stand-in appends one JSON line per execute call
//                            (default run/orchestrator-calls.jsonl)
//   BACKSTAGE_WATCH_PID      if set, exit (gracefully) as soon as that process is gone, so a
//                            backend never outlives its test binary.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const { createBackend } = require('@backstage/backend-defaults');
const {
  createBackendModule,
  createBackendPlugin,
  coreServices,
} = require('@backstage/backend-plugin-api');
const { catalogProcessingExtensionPoint } = require('@backstage/plugin-catalog-node');

const CALLS_FILE = path.resolve(
  process.env.ORCHESTRATOR_CALLS_FILE || path.join(__dirname, 'run/orchestrator-calls.jsonl'),
);
fs.mkdirSync(path.dirname(CALLS_FILE), { recursive: true });

const isObject = v => typeof v === 'object' && v !== null && !Array.isArray(v);

// Stand-in for the orchestrator backend (pluginId `orchestrator`): the one route the action
// calls, under the default auth policy (an unauthenticated call gets 401 from the framework).
// The body is checked as the real backend's OpenAPI validation checks it (orchestrator-backend
// 8.13.2: ExecuteWorkflowRequestDTO, `inputData` an object, `targetEntity` a string); the real
// backend would then check the `orchestrator.workflow.use` permission and start SonataFlow.
const orchestratorStandIn = createBackendPlugin({
  pluginId: 'orchestrator',
  register(env) {
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        logger: coreServices.logger,
      },
      async init({ httpRouter, httpAuth, logger }) {
        const router = express.Router();
        router.use(express.json({ limit: '10mb' }));
        router.post('/v2/workflows/:workflowId/execute', async (req, res) => {
          const credentials = await httpAuth.credentials(req);
          const body = req.body;
          const problems = [];
          if (!isObject(body)) problems.push('the body must be a JSON object');
          else {
            if (!isObject(body.inputData)) problems.push('`inputData` must be an object');
            if (body.targetEntity !== undefined && typeof body.targetEntity !== 'string')
              problems.push('`targetEntity` must be a string');
          }
          if (problems.length) {
            logger.warn(`execute ${req.params.workflowId}: rejected: ${problems.join('; ')}`);
            res.status(400).json({ error: { name: 'InputError', message: problems.join('; ') } });
            return;
          }
          const { principal } = credentials;
          const id = crypto.randomUUID();
          const call = {
            workflowId: req.params.workflowId,
            inputData: body.inputData,
            targetEntity: body.targetEntity,
            principal:
              principal.type === 'service'
                ? `service ${principal.subject}`
                : `${principal.type} ${principal.userEntityRef ?? ''}`.trim(),
            id,
          };
          fs.appendFileSync(CALLS_FILE, `${JSON.stringify(call)}\n`);
          res.status(200).json({ id });
        });
        httpRouter.use(router);
      },
    });
  },
});

// Stock Backstage does not log entity processing errors; a test peer should.
const logProcessingErrors = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'log-processing-errors',
  register(env) {
    env.registerInit({
      deps: { catalog: catalogProcessingExtensionPoint, logger: coreServices.logger },
      async init({ catalog, logger }) {
        catalog.setOnProcessingErrorHandler(({ unprocessedEntity, errors }) => {
          const e = unprocessedEntity;
          const ref = `${e.kind}:${e.metadata?.namespace ?? 'default'}/${e.metadata?.name}`;
          for (const err of errors) {
            logger.warn(`processing error for ${ref}: ${err.name}: ${err.message}`);
          }
        });
      },
    });
  },
});

const backend = createBackend();
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'));
backend.add(logProcessingErrors);
backend.add(import('@backstage/plugin-scaffolder-backend'));
backend.add(import('@red-hat-developer-hub/backstage-plugin-scaffolder-backend-module-orchestrator'));
backend.add(orchestratorStandIn);

backend.start().catch(err => {
  console.error('backend failed to start', err);
  process.exit(1);
});

const watchPid = Number(process.env.BACKSTAGE_WATCH_PID || 0);
if (watchPid > 0) {
  const alive = pid => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return e.code === 'EPERM';
    }
  };
  const timer = setInterval(() => {
    if (alive(watchPid)) return;
    clearInterval(timer);
    console.error(`watched process ${watchPid} is gone; stopping`);
    setTimeout(() => process.exit(0), 5000).unref();
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  timer.unref();
}
