// Stand-in for @red-hat-developer-hub/backstage-plugin-orchestrator-common, which the npm
// registry reachable here does not have (404) and which
// @red-hat-developer-hub/backstage-plugin-scaffolder-backend-module-orchestrator 1.8.1 requires.
//
// The module imports only `Configuration` and `DefaultApi` (the typescript-axios client generated
// from the orchestrator's OpenAPI document) and calls three methods. This file provides exactly
// those, with the generated client's conventions: `new DefaultApi(configuration, basePath, axios)`,
// paths relative to `configuration.basePath ?? basePath`, path parameters URI-encoded, the
// `options` object last (merged over `configuration.baseOptions`; it carries the Authorization
// header), and the axios response (`{data, status, headers}`) as the result, so errors are real
// axios errors the module's `getError` understands.
'use strict';

class Configuration {
  constructor(param = {}) {
    this.basePath = param.basePath;
    this.baseOptions = param.baseOptions;
    this.accessToken = param.accessToken;
  }
}

class DefaultApi {
  constructor(configuration, basePath = '', axios) {
    this.configuration = configuration;
    this.basePath = configuration?.basePath ?? basePath;
    // The generated client falls back to the global axios instance.
    this.axios = axios ?? require('axios');
  }

  request(method, path, options = {}, data) {
    const base = this.configuration?.baseOptions ?? {};
    const headers = { ...base.headers, ...options.headers };
    if (data !== undefined) headers['Content-Type'] = 'application/json';
    return this.axios.request({
      ...base,
      ...options,
      method,
      url: this.basePath + path,
      headers,
      data: data === undefined ? undefined : JSON.stringify(data),
    });
  }

  /** POST /v2/workflows/{workflowId}/execute */
  executeWorkflow(workflowId, executeWorkflowRequestDTO, options) {
    required('executeWorkflow', 'workflowId', workflowId);
    required('executeWorkflow', 'executeWorkflowRequestDTO', executeWorkflowRequestDTO);
    return this.request(
      'POST',
      `/v2/workflows/${encodeURIComponent(String(workflowId))}/execute`,
      options,
      executeWorkflowRequestDTO,
    );
  }

  /** GET /v2/workflows/{workflowId}/overview */
  getWorkflowOverviewById(workflowId, options) {
    required('getWorkflowOverviewById', 'workflowId', workflowId);
    return this.request(
      'GET',
      `/v2/workflows/${encodeURIComponent(String(workflowId))}/overview`,
      options,
    );
  }

  /** GET /v2/workflows/{workflowId}/inputSchema?instanceId= */
  getWorkflowInputSchemaById(workflowId, instanceId, options) {
    required('getWorkflowInputSchemaById', 'workflowId', workflowId);
    const query =
      instanceId === undefined ? '' : `?instanceId=${encodeURIComponent(String(instanceId))}`;
    return this.request(
      'GET',
      `/v2/workflows/${encodeURIComponent(String(workflowId))}/inputSchema${query}`,
      options,
    );
  }
}

// What the generated client's `assertParamExists` throws.
function required(method, name, value) {
  if (value === null || value === undefined) {
    const error = new Error(
      `Required parameter ${name} was null or undefined when calling ${method}.`,
    );
    error.name = 'RequiredError';
    throw error;
  }
}

module.exports = { Configuration, DefaultApi };
