export const id = 906;
export const ids = [906,443];
export const modules = {

/***/ 1443:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   CLOUD_PLATFORM_SCOPE: () => (/* binding */ CLOUD_PLATFORM_SCOPE),
/* harmony export */   CREDENTIALS_FILE_VARIABLES: () => (/* binding */ CREDENTIALS_FILE_VARIABLES),
/* harmony export */   DEFAULT_REFRESH_MARGIN_SECONDS: () => (/* binding */ DEFAULT_REFRESH_MARGIN_SECONDS),
/* harmony export */   PROJECT_VARIABLES: () => (/* binding */ PROJECT_VARIABLES),
/* harmony export */   findCredentialsFile: () => (/* binding */ findCredentialsFile),
/* harmony export */   getAccessTokenSource: () => (/* binding */ getAccessTokenSource),
/* harmony export */   hasCredentials: () => (/* binding */ hasCredentials),
/* harmony export */   resolveProjectId: () => (/* binding */ resolveProjectId)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var google_auth_library__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(492);
/* harmony import */ var google_auth_library__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(google_auth_library__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2578);




// Application Default Credentials as google-github-actions/auth leaves them: a credentials file named by
// GOOGLE_APPLICATION_CREDENTIALS (or gcloud's / the auth action's own variables). Without one, on a
// self-hosted runner on Google Cloud, the metadata server's service account (ADC, as every Google client
// library finds it). No gcloud involved, and none run: GoogleAuth's own discovery would spawn
// `gcloud config config-helper` to find a project (and read gcloud's ~/.config/gcloud for credentials), so the
// metadata server is asked directly (its Compute client, its project and e-mail), and the GoogleAuth built for
// a credentials file is handed the credentials and, when known, the project, leaving it nothing to look up.
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const DEFAULT_REFRESH_MARGIN_SECONDS = 300;
const GOOGLE_OAUTH2_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Checked in this order; the first one set wins. */
const CREDENTIALS_FILE_VARIABLES = [
    'GOOGLE_APPLICATION_CREDENTIALS',
    'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE',
    'GOOGLE_GHA_CREDS_PATH'
];
const PROJECT_VARIABLES = [
    'CLOUDSDK_CORE_PROJECT',
    'CLOUDSDK_PROJECT',
    'GCLOUD_PROJECT',
    'GCP_PROJECT',
    'GOOGLE_CLOUD_PROJECT'
];
const AUTH_STEP_FIX = [
    'Add the google-github-actions/auth step before this action:',
    '  - uses: google-github-actions/auth@v3',
    '    with: { workload_identity_provider: ..., service_account: ... }',
    "and give the job `permissions: { id-token: write, contents: read }` so it can request GitHub's OIDC token."
].join('\n');
function findCredentialsFile(env) {
    for (const variable of CREDENTIALS_FILE_VARIABLES) {
        const path = env[variable]?.trim();
        if (path)
            return { path, variable };
    }
    return undefined;
}
// Where a GCE metadata server may answer: a test or proxy named one, detection was forced, or the machine's
// firmware says Google Compute Engine (a self-hosted runner's VM, or a GKE node under a runner pod). Elsewhere
// (GitHub's hosted runners) the metadata address is not even tried, so an offline dry run stays instant.
function metadataServerPlausible(env) {
    if (env.GCE_METADATA_HOST || env.GCE_METADATA_IP)
        return true;
    const detection = env.METADATA_SERVER_DETECTION?.trim().toLowerCase();
    if (detection === 'none')
        return false;
    if (detection === 'assume-present' || detection === 'ping-only')
        return true;
    try {
        return /Google/.test((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)('/sys/class/dmi/id/product_name', 'utf8'));
    }
    catch {
        return false;
    }
}
async function metadataServerAnswers(env) {
    if (!metadataServerPlausible(env))
        return false;
    try {
        return await google_auth_library__WEBPACK_IMPORTED_MODULE_2__.gcpMetadata.isAvailable();
    }
    catch {
        return false;
    }
}
/** Whether there are Google credentials to use; main.ts uses it to decide on an offline dry run. */
async function hasCredentials(env) {
    return findCredentialsFile(env) !== undefined || (await metadataServerAnswers(env));
}
async function readCredentialsFile(env) {
    const found = findCredentialsFile(env);
    if (!found) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('NO_CREDENTIALS', `No Google Cloud credentials: none of ${CREDENTIALS_FILE_VARIABLES.join(', ')} is set, so the ` +
            `google-github-actions/auth step is missing (or ran in another job).\n${AUTH_STEP_FIX}`);
    }
    let text;
    try {
        text = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readFile)(found.path, 'utf8');
    }
    catch (err) {
        const reason = err.code ?? String(err);
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `${found.variable} names ${found.path}, which cannot be read (${reason}). The file only exists in the job ` +
            `whose google-github-actions/auth step wrote it; run the auth step in this job, before this action.`);
    }
    let json;
    try {
        json = JSON.parse(text);
    }
    catch {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `${found.variable} names ${found.path}, which is not JSON.`);
    }
    if (!json || typeof json !== 'object' || typeof json.type !== 'string') {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `${found.path} (from ${found.variable}) has no "type" field.`);
    }
    return { ...found, json: json };
}
function impersonatedEmail(json) {
    const match = /serviceAccounts\/([^/:]+):generateAccessToken$/.exec(json.service_account_impersonation_url ?? '');
    return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}
function serviceAccountEmailOf(json) {
    if (json.type === 'service_account')
        return json.client_email;
    if (json.type === 'external_account')
        return impersonatedEmail(json);
    return undefined;
}
// A project the input, the auth step's variables or the credentials name, without asking anyone.
function projectNamedBy(json, opts) {
    if (opts.projectId?.trim())
        return opts.projectId.trim();
    for (const variable of PROJECT_VARIABLES) {
        const value = opts.env[variable]?.trim();
        if (value)
            return value;
    }
    return json.project_id ?? json.quota_project_id;
}
/**
 * The project: the `project_id` input, else the variables the auth step exports, else what the credentials
 * themselves tell (a key's project_id, or the project in the impersonated service account's email).
 */
async function resolveProjectId(inputProjectId, env) {
    const fromInput = inputProjectId?.trim();
    if (fromInput)
        return fromInput;
    for (const variable of PROJECT_VARIABLES) {
        const value = env[variable]?.trim();
        if (value)
            return value;
    }
    const found = findCredentialsFile(env);
    if (found) {
        const { json } = await readCredentialsFile(env);
        if (json.project_id)
            return json.project_id;
        const email = serviceAccountEmailOf(json);
        const fromEmail = email
            ? /@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(email)?.[1]
            : undefined;
        if (fromEmail)
            return fromEmail;
        if (json.quota_project_id)
            return json.quota_project_id;
    }
    if (!found && (await metadataServerAnswers(env))) {
        const fromMetadata = await google_auth_library__WEBPACK_IMPORTED_MODULE_2__.gcpMetadata.project('project-id').catch(() => undefined);
        if (typeof fromMetadata === 'string' && fromMetadata.trim())
            return fromMetadata.trim();
    }
    throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('NO_PROJECT', 'Cannot tell which Google Cloud project the cluster is in: set the `project_id` input (or the ' +
        '`project_id` input of google-github-actions/auth, which exports it).');
}
/**
 * google-auth-library signs service-account assertions for, and posts them to, Google's fixed token URL and
 * ignores the key's `token_uri`. gcloud (whose job this action takes over) honours `token_uri`, e.g. for
 * keys pointed at a private token endpoint, so requests for the fixed URL are sent to the key's one instead.
 */
function honourTokenUri(client, tokenUri) {
    if (!tokenUri || tokenUri === GOOGLE_OAUTH2_TOKEN_URL)
        return;
    let target;
    try {
        target = new URL(tokenUri);
    }
    catch {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `The service account key's token_uri is not a URL.`);
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `The service account key's token_uri must be http(s).`);
    }
    client.transporter.interceptors.request.add({
        resolved: async (config) => {
            if (config.url !== undefined && String(config.url) === GOOGLE_OAUTH2_TOKEN_URL)
                config.url = new URL(target);
            return config;
        }
    });
}
function originAndPath(url) {
    try {
        const parsed = new URL(String(url));
        return `${parsed.origin}${parsed.pathname}`;
    }
    catch {
        return undefined;
    }
}
/** Turns a google-auth-library failure into a message that says which step failed and what to do. */
function explainAuthFailure(err, json, path, secrets) {
    const e = err;
    const url = e.config?.url !== undefined ? String(e.config.url) : undefined;
    const httpStatus = e.response?.status ?? e.status;
    const failure = (0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .googleFailureFromBody */ .y8)(httpStatus, e.response?.data);
    const detail = (0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .redact */ .E$)(failure?.message ?? e.message ?? String(err), secrets);
    const where = originAndPath(url);
    const statusText = httpStatus ? `HTTP ${httpStatus}: ` : '';
    const sourceUrl = json.credential_source?.url;
    let hint;
    if (url && sourceUrl && originAndPath(url) === originAndPath(sourceUrl)) {
        hint =
            "Fetching GitHub's OIDC token failed. The job needs `permissions: { id-token: write }`, and the " +
                'credentials file must come from the google-github-actions/auth step of this same job.';
    }
    else if (url &&
        json.service_account_impersonation_url &&
        url === json.service_account_impersonation_url) {
        hint =
            `Impersonating ${impersonatedEmail(json) ?? 'the service account'} failed. The workload identity pool ` +
                'principal needs roles/iam.workloadIdentityUser on that service account, and the IAM Credentials API ' +
                'must be enabled.';
    }
    else if (json.type === 'external_account') {
        hint =
            'The workload identity federation token exchange failed. Check the workload_identity_provider given to ' +
                "google-github-actions/auth and the provider's attribute condition (repository, branch).";
    }
    else if (json.type === 'service_account') {
        hint = `The service account key ${json.client_email ?? ''} was rejected: it may be disabled or deleted.`;
    }
    else {
        hint = `Credentials of type ${json.type ?? 'unknown'} from ${path} were rejected.`;
    }
    return new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('AUTH_FAILED', `Could not get a Google access token${where ? ` (${where})` : ''}: ${statusText}${detail}\n${hint}`);
}
async function getAccessTokenSource(opts) {
    const log = opts.log ?? (() => { });
    const marginSeconds = opts.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_SECONDS;
    if (!findCredentialsFile(opts.env) && (await metadataServerAnswers(opts.env))) {
        return metadataTokenSource(opts.scopes ?? [CLOUD_PLATFORM_SCOPE], marginSeconds, log);
    }
    const { path, variable, json } = await readCredentialsFile(opts.env);
    const supported = ['external_account', 'service_account', 'impersonated_service_account', 'authorized_user'];
    if (!supported.includes(json.type ?? '')) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `${path} (from ${variable}) holds credentials of type "${json.type}", which this action does not support. ` +
            'Use google-github-actions/auth with workload_identity_provider (or credentials_json).');
    }
    const serviceAccountEmail = serviceAccountEmailOf(json);
    const principal = serviceAccountEmail ?? json.audience?.replace(/^\/\/iam\.googleapis\.com\//, '') ?? json.type;
    const auth = new google_auth_library__WEBPACK_IMPORTED_MODULE_2__.GoogleAuth({
        credentials: json,
        // Given whenever it is known, so the library never looks one up (resolveProjectId decides the cluster's).
        ...(projectNamedBy(json, opts) ? { projectId: projectNamedBy(json, opts) } : {}),
        scopes: opts.scopes ?? [CLOUD_PLATFORM_SCOPE],
        // The library refreshes a cached token this long before it expires; 0 would mean its own default.
        clientOptions: { eagerRefreshThresholdMillis: Math.max(1, marginSeconds * 1000) }
    });
    let client;
    try {
        client = await auth.getClient();
    }
    catch (err) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('BAD_CREDENTIALS_FILE', `${path} (from ${variable}) is not a usable ${json.type} credentials file: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .redact */ .E$)(String(err.message ?? err), [])}`);
    }
    if (json.type === 'service_account')
        honourTokenUri(client, json.token_uri);
    const how = json.type === 'external_account'
        ? serviceAccountEmail
            ? `workload identity federation, impersonating ${serviceAccountEmail}`
            : 'workload identity federation (direct, no service account)'
        : json.type === 'service_account'
            ? `service account key of ${serviceAccountEmail}`
            : json.type;
    log(`Google credentials: ${how} (${variable})`);
    const issued = new Set();
    return {
        credentialsType: json.type,
        credentialsPath: path,
        serviceAccountEmail,
        principal,
        async getToken() {
            let token;
            try {
                token = (await client.getAccessToken()).token;
            }
            catch (err) {
                throw explainAuthFailure(err, json, path, [...issued]);
            }
            if (!token)
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('AUTH_FAILED', 'google-auth-library returned no access token.');
            issued.add(token);
            const expiry = client.credentials.expiry_date;
            // A token without a stated expiry is assumed to live the usual hour; a margin early, it gets replaced.
            const expiresAt = new Date(typeof expiry === 'number' ? expiry : Date.now() + 3600_000);
            return { token, expiresAt };
        }
    };
}
// The metadata server's service account: google-auth-library's Compute client asks it for tokens. Built
// directly, not found by GoogleAuth's discovery (which would run gcloud for a project, see the header).
async function metadataTokenSource(scopes, marginSeconds, log) {
    const client = new google_auth_library__WEBPACK_IMPORTED_MODULE_2__.Compute({ scopes, eagerRefreshThresholdMillis: Math.max(1, marginSeconds * 1000) });
    const named = await google_auth_library__WEBPACK_IMPORTED_MODULE_2__.gcpMetadata.instance('service-accounts/default/email').catch(() => undefined);
    const email = typeof named === 'string' && named.trim() ? named.trim() : undefined;
    log(`Google credentials: the metadata server's service account${email ? ` ${email}` : ''} (no credentials file)`);
    return {
        credentialsType: 'gce_metadata',
        credentialsPath: 'metadata server',
        serviceAccountEmail: email,
        principal: email ?? "the metadata server's service account",
        async getToken() {
            let token;
            try {
                token = (await client.getAccessToken()).token;
            }
            catch (err) {
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('AUTH_FAILED', `Could not get a Google access token from the metadata server: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .redact */ .E$)(String(err.message ?? err), [])}\n` +
                    "The runner's VM (or GKE node) needs a service account with the cloud-platform scope.");
            }
            if (!token)
                throw new _errors_js__WEBPACK_IMPORTED_MODULE_3__/* .GkeError */ .G4('AUTH_FAILED', 'The metadata server returned no access token.');
            const expiry = client.credentials.expiry_date;
            return { token, expiresAt: new Date(typeof expiry === 'number' ? expiry : Date.now() + 3600_000) };
        }
    };
}


/***/ }),

/***/ 906:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  GkeKubeconfigSession: () => (/* binding */ GkeKubeconfigSession)
});

// EXTERNAL MODULE: ./src/gke/credentials.ts
var credentials = __webpack_require__(1443);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
// EXTERNAL MODULE: ./src/redact.ts
var redact = __webpack_require__(6670);
// EXTERNAL MODULE: ./src/untrusted-text.ts
var untrusted_text = __webpack_require__(8521);
// EXTERNAL MODULE: ./src/gke/errors.ts
var errors = __webpack_require__(2578);
;// CONCATENATED MODULE: ./src/gke/cluster.ts




// GKE clusters.get over REST: where the control plane is and which CA signs it.
const DEFAULT_CONTAINER_API = 'https://container.googleapis.com/';
/** Like gcloud: CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER, else the public API. */
function containerApiBaseUrl(env) {
    const override = env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER?.trim();
    if (!override)
        return DEFAULT_CONTAINER_API;
    return override.endsWith('/') ? override : `${override}/`;
}
function parseClusterName(clusterName, projectId, location) {
    const trimmed = clusterName.trim().replace(/^(?:https?:)?\/\/container\.googleapis\.com\/(?:v1\/)?/, '');
    const full = /^projects\/([^/]+)\/(?:locations|zones)\/([^/]+)\/clusters\/([^/]+)$/.exec(trimmed);
    if (full)
        return { project: full[1], location: full[2], name: full[3] };
    if (trimmed.includes('/')) {
        throw new errors/* GkeError */.G4('CLUSTER_NOT_FOUND', `cluster_name "${clusterName}" is neither a name nor projects/P/locations/L/clusters/N.`);
    }
    return { project: projectId, location, name: trimmed };
}
const RETRYABLE = new Set([429, 500, 502, 503, 504]);
// RECONCILING clusters (upgrades, Autopilot resizes) keep serving the Kubernetes API; gcloud does not
// refuse them either. Every other state means the control plane may not answer.
const USABLE_STATUSES = new Set(['RUNNING', 'RECONCILING']);
async function getCluster(opts) {
    const log = opts.log ?? (() => { });
    const id = parseClusterName(opts.clusterName, opts.projectId, opts.location);
    const resourceName = `projects/${id.project}/locations/${id.location}/clusters/${id.name}`;
    const base = opts.apiBaseUrl ?? DEFAULT_CONTAINER_API;
    const url = new URL(`v1/projects/${encodeURIComponent(id.project)}/locations/${encodeURIComponent(id.location)}/clusters/${encodeURIComponent(id.name)}`, base.endsWith('/') ? base : `${base}/`);
    const attempts = Math.max(1, opts.attempts ?? 3);
    let response;
    let lastError;
    for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
            response = await fetch(url, {
                headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json' },
                signal: AbortSignal.timeout(30_000)
            });
            if (!RETRYABLE.has(response.status) || attempt === attempts)
                break;
            log(`GKE API answered ${response.status} for ${resourceName}; retrying`);
        }
        catch (err) {
            lastError = err;
            response = undefined;
            if (attempt === attempts)
                break;
            log(`GKE API unreachable (${(0,errors/* redact */.E$)(String(err.message ?? err), [opts.token])}); retrying`);
        }
        await new Promise(resolve => setTimeout(resolve, 500 * 2 ** (attempt - 1)));
    }
    if (!response) {
        const reason = (0,errors/* redact */.E$)(String(lastError?.message ?? lastError), [opts.token]);
        throw new errors/* GkeError */.G4('GKE_API_ERROR', `Cannot reach the GKE API at ${url.origin}: ${reason}`);
    }
    const text = await response.text();
    let body;
    try {
        body = JSON.parse(text);
    }
    catch {
        body = undefined;
    }
    if (!response.ok)
        throw clusterLookupError(response.status, body, text, { ...id, resourceName }, opts);
    return toCluster(body, id, resourceName);
}
function clusterLookupError(httpStatus, body, text, id, opts) {
    const failure = (0,errors/* googleFailureFromBody */.y8)(httpStatus, body);
    // A body that is not Google's error shape: redacted whole, then shortened (a cut first could leave the
    // start of the token where redaction no longer recognises it).
    const withoutToken = (said) => (0,errors/* redact */.E$)(said, [opts.token]);
    const said = failure?.message !== undefined
        ? withoutToken(failure.message)
        : (0,redact/* redactAndClip */.vm)(withoutToken, (0,untrusted_text/* boundLines */.ip)(text, 64 * 1024, 'head'), 300);
    if (httpStatus === 404) {
        return new errors/* GkeError */.G4('CLUSTER_NOT_FOUND', `GKE cluster "${id.name}" not found in project "${id.project}", location "${id.location}". Check ` +
            'cluster_name and location: a regional cluster (e.g. europe-west3) is not found under a zone ' +
            `(europe-west3-a) and vice versa; also check project_id. Google said: ${said}`);
    }
    if (httpStatus === 403) {
        const who = opts.serviceAccountEmail
            ? `the service account ${opts.serviceAccountEmail}`
            : 'the deploying identity';
        return new errors/* GkeError */.G4('PERMISSION_DENIED', `Permission denied reading GKE cluster ${id.resourceName}: ${who} lacks container.clusters.get. Grant it ` +
            `roles/container.clusterViewer (or roles/container.developer, which deploying needs anyway) on project ` +
            `"${id.project}". Google said: ${said}`);
    }
    if (httpStatus === 401) {
        return new errors/* GkeError */.G4('AUTH_FAILED', `The GKE API rejected the access token (HTTP 401) for ${id.resourceName}. Google said: ${said}`);
    }
    return new errors/* GkeError */.G4('GKE_API_ERROR', `GKE API error for ${id.resourceName}: HTTP ${httpStatus}${failure?.status ? ` ${failure.status}` : ''}: ${said}`);
}
function str(value) {
    return typeof value === 'string' && value !== '' ? value : undefined;
}
function obj(value) {
    return value && typeof value === 'object' ? value : {};
}
function toCluster(raw, id, resourceName) {
    const privateConfig = obj(raw.privateClusterConfig);
    const endpoints = obj(raw.controlPlaneEndpointsConfig);
    const ipConfig = obj(endpoints.ipEndpointsConfig);
    const dnsConfig = obj(endpoints.dnsEndpointConfig);
    const publicDisabled = ipConfig.enabled === false ||
        ipConfig.enablePublicEndpoint === false ||
        privateConfig.enablePrivateEndpoint === true;
    const caBase64 = str(obj(raw.masterAuth).clusterCaCertificate);
    const cluster = {
        project: id.project,
        location: str(raw.location) ?? id.location,
        name: str(raw.name) ?? id.name,
        resourceName,
        status: str(raw.status) ?? 'STATUS_UNSPECIFIED',
        statusMessage: str(raw.statusMessage),
        // With the public endpoint disabled, `endpoint` holds the private address: not a public endpoint.
        publicEndpoint: publicDisabled ? undefined : (str(ipConfig.publicEndpoint) ?? str(raw.endpoint)),
        privateEndpoint: str(privateConfig.privateEndpoint) ?? str(ipConfig.privateEndpoint),
        dnsEndpoint: str(dnsConfig.endpoint),
        caPem: caBase64 ? Buffer.from(caBase64, 'base64').toString('utf8') : undefined,
        currentMasterVersion: str(raw.currentMasterVersion)
    };
    if (!USABLE_STATUSES.has(cluster.status)) {
        const why = cluster.statusMessage ? ` (${cluster.statusMessage})` : '';
        throw new errors/* GkeError */.G4('CLUSTER_NOT_RUNNING', `GKE cluster ${resourceName} is ${cluster.status}${why}, not RUNNING: its control plane cannot take a ` +
            'deployment now. Wait for the cluster to be RUNNING and re-run the job.');
    }
    return cluster;
}
function hostUrl(endpoint) {
    return `https://${(0,external_node_net_.isIPv6)(endpoint) ? `[${endpoint}]` : endpoint}`;
}
/**
 * The kube-apiserver URL and CA for the requested endpoint kind. The DNS endpoint carries a certificate from
 * a public CA, so no CA data goes into the kubeconfig then.
 */
function selectEndpoint(cluster, kind) {
    const update = `gcloud container clusters update ${cluster.name} --location ${cluster.location}`;
    if (kind === 'dns') {
        if (!cluster.dnsEndpoint) {
            throw new errors/* GkeError */.G4('ENDPOINT_NOT_ENABLED', `cluster_endpoint: dns was asked for, but ${cluster.resourceName} has no DNS-based control plane ` +
                `endpoint. Enable it with \`${update} --enable-dns-access\`, or use cluster_endpoint: public/private.`);
        }
        return { server: hostUrl(cluster.dnsEndpoint) };
    }
    const endpoint = kind === 'private' ? cluster.privateEndpoint : cluster.publicEndpoint;
    if (!endpoint) {
        const advice = kind === 'private'
            ? 'it is not a private cluster; use cluster_endpoint: public or dns'
            : `its public endpoint is disabled; use cluster_endpoint: private (runner inside the VPC) or dns, or \`${update} --enable-ip-access\` without --enable-private-endpoint`;
        throw new errors/* GkeError */.G4('ENDPOINT_NOT_ENABLED', `cluster_endpoint: ${kind} was asked for, but ${cluster.resourceName} has no ${kind} IP endpoint: ${advice}.`);
    }
    if (!cluster.caPem) {
        throw new errors/* GkeError */.G4('GKE_API_ERROR', `GKE returned no cluster CA certificate for ${cluster.resourceName}.`);
    }
    return { server: hostUrl(endpoint), caPem: cluster.caPem };
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __webpack_require__(8815);
// EXTERNAL MODULE: ./src/k8s/serialize.ts
var serialize = __webpack_require__(1878);
;// CONCATENATED MODULE: ./src/gke/kubeconfig.ts






const FILE_MODE = 0o600;
function kubeconfigDocument(opts) {
    const name = opts.name ?? 'gke';
    const cluster = { server: opts.server };
    if (opts.caPem)
        cluster['certificate-authority-data'] = Buffer.from(opts.caPem, 'utf8').toString('base64');
    const context = { cluster: name, user: name };
    if (opts.namespace)
        context.namespace = opts.namespace;
    return {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name, cluster }],
        users: [{ name, user: { token: opts.token } }],
        contexts: [{ name, context }],
        'current-context': name,
        preferences: {}
    };
}
/** Creates the file exclusively with mode 0600 from the start, so the token is never readable by others. */
async function writePrivateFile(path, content) {
    const handle = await (0,promises_.open)(path, 'wx', FILE_MODE);
    try {
        await handle.writeFile(content, 'utf8');
        // Mode given to open() is filtered by the umask; 0600 is what it must be.
        await handle.chmod(FILE_MODE);
        await handle.sync();
    }
    finally {
        await handle.close();
    }
}
async function writeKubeconfig(opts) {
    const path = (0,external_node_path_.join)(opts.dir, `kubeconfig-gke-${(0,external_node_crypto_.randomBytes)(8).toString('hex')}.yaml`);
    await writePrivateFile(path, (0,serialize/* toPortableYaml */.AV)(kubeconfigDocument(opts)));
    return path;
}
/** Replaces the user token: written to a sibling temp file, then renamed over, so kubectl never reads half a file. */
async function rewriteToken(path, token) {
    const doc = (0,dist/* parse */.qg)(await (0,promises_.readFile)(path, 'utf8'));
    const user = doc?.users?.[0]?.user;
    if (!user)
        throw new errors/* GkeError */.G4('KUBECONFIG', `${path} has no user entry to put the token in.`);
    user.token = token;
    const temp = (0,external_node_path_.join)((0,external_node_path_.dirname)(path), `.${(0,external_node_path_.basename)(path)}.${(0,external_node_crypto_.randomBytes)(6).toString('hex')}.tmp`);
    try {
        await writePrivateFile(temp, (0,serialize/* toPortableYaml */.AV)(doc));
        await (0,promises_.rename)(temp, path);
    }
    catch (err) {
        await (0,promises_.rm)(temp, { force: true });
        throw err;
    }
}
async function removeKubeconfig(path) {
    await (0,promises_.rm)(path, { force: true });
}
// What the run writes, and so all the post step may delete: writeKubeconfig's file, in the run's work
// directory (main.ts: mkdtemp(RUNNER_TEMP/deploy-gke-workers-), which appends six characters).
const OWN_FILE_NAME = /^kubeconfig-gke-[0-9a-f]{16}\.yaml$/;
const OWN_DIRECTORY_NAME = /^deploy-gke-workers-[A-Za-z0-9]{6}$/;
/**
 * `file` if it is this action's own kubeconfig, else why not: an absolute path, named as writeKubeconfig names
 * it, in a deploy-gke-workers- directory directly under RUNNER_TEMP (neither a symbolic link), a regular file
 * (not a link to one elsewhere) of this user. The post step reads the path from its state, which an earlier
 * step can set (GITHUB_ENV), so nothing else is taken on trust.
 */
async function verifyOwnKubeconfig(file, runnerTemp) {
    if (!isAbsolute(file) || normalize(file) !== file)
        return { problem: 'not an absolute, normalised path' };
    if (!OWN_FILE_NAME.test(basename(file)))
        return { problem: 'not named as this action names its kubeconfig' };
    const directory = dirname(file);
    if (!OWN_DIRECTORY_NAME.test(basename(directory)))
        return { problem: 'not in a deploy-gke-workers- work directory' };
    try {
        const [temp, parent] = await Promise.all([realpath(runnerTemp), realpath(dirname(directory))]);
        if (temp !== parent)
            return { problem: 'not in a work directory directly under RUNNER_TEMP' };
        const [directoryStat, fileStat] = await Promise.all([lstat(directory), lstat(file)]);
        if (!directoryStat.isDirectory())
            return { problem: 'its directory is a symbolic link or not a directory' };
        if (fileStat.isSymbolicLink())
            return { problem: 'a symbolic link' };
        if (!fileStat.isFile())
            return { problem: 'not a regular file' };
        if (process.getuid && fileStat.uid !== process.getuid())
            return { problem: 'not owned by this user' };
    }
    catch (error) {
        return { problem: `cannot be checked (${error.code ?? String(error)})` };
    }
    return { path: file };
}

;// CONCATENATED MODULE: ./src/gke/session.ts



class GkeKubeconfigSession {
    #opts;
    #marginMs;
    #now;
    constructor(opts) {
        this.#opts = opts;
        this.#marginMs = (opts.refreshMarginSeconds ?? credentials.DEFAULT_REFRESH_MARGIN_SECONDS) * 1000;
        this.#now = opts.now ?? Date.now;
    }
    async open() {
        const { env, log = () => { }, onToken = () => { } } = this.#opts;
        const source = this.#opts.tokenSource ??
            (await (0,credentials.getAccessTokenSource)({
                env,
                projectId: this.#opts.projectId,
                refreshMarginSeconds: this.#marginMs / 1000,
                log
            }));
        const projectId = await (0,credentials.resolveProjectId)(this.#opts.projectId, env);
        let current = await source.getToken();
        onToken(current.token);
        const cluster = await getCluster({
            projectId,
            location: this.#opts.location,
            clusterName: this.#opts.clusterName,
            token: current.token,
            apiBaseUrl: containerApiBaseUrl(env),
            serviceAccountEmail: source.serviceAccountEmail,
            log
        });
        const kind = this.#opts.endpoint ?? 'public';
        const { server, caPem } = selectEndpoint(cluster, kind);
        if (cluster.status !== 'RUNNING')
            log(`GKE cluster ${cluster.resourceName} is ${cluster.status}`);
        log(`GKE cluster ${cluster.resourceName}: ${kind} endpoint ${server}`);
        const path = await writeKubeconfig({
            dir: this.#opts.dir,
            server,
            caPem,
            token: current.token,
            namespace: this.#opts.namespace,
            name: `gke_${cluster.project}_${cluster.location}_${cluster.name}`
        });
        log(`Wrote kubeconfig ${path}`);
        let pending;
        const refresh = async () => {
            const next = await source.getToken();
            if (next.token !== current.token) {
                onToken(next.token);
                await rewriteToken(path, next.token);
                log(`Refreshed the GKE access token (valid until ${next.expiresAt.toISOString()})`);
            }
            current = next;
        };
        const ensureFresh = async () => {
            if (this.#now() < current.expiresAt.getTime() - this.#marginMs)
                return;
            // Concurrent kubectl calls share one refresh rather than racing renames.
            pending ??= refresh().finally(() => (pending = undefined));
            await pending;
        };
        return {
            path,
            server,
            projectId,
            cluster,
            ...(source.serviceAccountEmail ? { identity: source.serviceAccountEmail } : {}),
            ensureFresh,
            accessToken: async () => {
                await ensureFresh();
                return current.token;
            },
            close: () => removeKubeconfig(path)
        };
    }
}


/***/ })

};
