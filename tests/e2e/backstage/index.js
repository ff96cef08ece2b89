// Real Backstage backend, catalog only (+ kind: Template support, + the proxy), used as a
// test peer by the Rust integration tests (tests/support/catalog.rs).
// Plain CommonJS, no TypeScript build. Start it with ./start.sh, which cd's
// here and passes `--config app-config.yaml` (plus the test-only
// `--config app-config.test-stitching.yaml`). APP_CONFIG_<path> env vars
// override single keys, e.g. APP_CONFIG_catalog_rules='[{"allow":["Component"]}]'.
//
// Env:
//   BACKSTAGE_WATCH_PID  if set, exit (gracefully) as soon as that process is
//                        gone. The Rust harness sets it to the test process so a
//                        catalog never outlives its test binary, even when the
//                        binary is killed or a static (shared) instance is never
//                        dropped.
'use strict';

const { createBackend } = require('@backstage/backend-defaults');
const {
  createBackendModule,
  coreServices,
} = require('@backstage/backend-plugin-api');
const {
  catalogProcessingExtensionPoint,
} = require('@backstage/plugin-catalog-node');

// Stock Backstage does not log entity processing errors (e.g. "not of an
// allowed kind", schema errors, 404 targets); they only land in the entity's
// status.items - and not even there for an entity that never processed OK.
// For a test peer we want them in the log, so log each one (once per change).
const logProcessingErrors = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'log-processing-errors',
  register(env) {
    env.registerInit({
      deps: {
        catalog: catalogProcessingExtensionPoint,
        logger: coreServices.logger,
      },
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

// The catalog itself (REST API under /api/catalog).
backend.add(import('@backstage/plugin-catalog-backend'));
// Adds the ScaffolderEntitiesProcessor so that kind: Template
// (apiVersion scaffolder.backstage.io/v1beta3) validates and is accepted.
backend.add(
  import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
);
backend.add(logProcessingErrors);
// The proxy (under /api/proxy): deploy/backstage/app-config.yaml routes the daemon's
// workflow diagrams through it.
backend.add(import('@backstage/plugin-proxy-backend'));

backend.start().catch(err => {
  console.error('backend failed to start', err);
  process.exit(1);
});

// Parent watchdog (see header).
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
    // Same path as SIGTERM (graceful stop); hard exit if that hangs.
    setTimeout(() => process.exit(0), 5000).unref();
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  timer.unref();
}
