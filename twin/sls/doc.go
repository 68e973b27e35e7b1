// Package sls is the offline twin of Simple Log Service (SLS): an
// http.Handler that speaks the REST API the official client
// github.com/aliyun/aliyun-log-go-sdk (v0.1.124) and its producer send, for
// the operations the migration needs to write and read its audit trail and
// kmsmig setup-logs needs to set it up (saved searches, alert rules and
// their notification routing, dashboards).
//
// Served operations (project taken from the Host header,
// "<project>.<endpoint>"):
//
//	POST   /                                   CreateProject (owner: the caller's account)
//	GET    /                                   GetProject
//	DELETE /                                   DeleteProject
//	POST   /logstores                          CreateLogStore
//	GET    /logstores                          ListLogStores (logstoreName: names containing it; offset; size: 200 by default, at most 500)
//	GET    /logstores/{ls}                     GetLogStore
//	DELETE /logstores/{ls}                     DeleteLogStore
//	POST   /logstores/{ls}                     PutLogs (what PutLogs and the producer send)
//	POST   /logstores/{ls}/shards/lb|route     PutLogs (load-balanced / hashed forms)
//	POST   /logstores/{ls}/logs                GetLogs (JSON body; what the SDK's GetLogs* send)
//	GET    /logstores/{ls}?type=log&...        GetLogs (older query-string form)
//	POST|PUT|GET|DELETE /logstores/{ls}/index  CreateIndex, UpdateIndex, GetIndex, DeleteIndex
//	POST /savedsearches, GET /savedsearches    CreateSavedSearch, ListSavedSearch
//	GET|PUT|DELETE /savedsearches/{name}       GetSavedSearch, UpdateSavedSearch, DeleteSavedSearch
//	POST /jobs, GET /jobs?jobType=Alert        CreateAlert, ListAlert (jobName: names containing it; resourceProvider: dashboard)
//	GET|PUT|DELETE /jobs/{name}                GetAlert, UpdateAlert, DeleteAlert
//	PUT /jobs/{name}?action=enable|disable     EnableAlert, DisableAlert
//	POST /dashboards, GET /dashboards          CreateDashboard, ListDashboard (dashboardName: names containing it)
//	GET|PUT|DELETE /dashboards/{name}          GetDashboard, UpdateDashboard, DeleteDashboard
//
// and, addressed to the bare endpoint (no project in the Host) and kept per
// account, the records of the built-in alert resources (sls.common.user,
// sls.common.user_group, sls.alert.oncall_group, sls.alert.action_webhook,
// sls.alert.action_policy, sls.alert.alert_policy,
// sls.alert.content_template, sls.alert.global_config):
//
//	POST /resources/{r}/records, GET ...       CreateResourceRecord, ListResourceRecord
//	GET|PUT /resources/{r}/records/{id}        GetResourceRecord, UpdateResourceRecord
//	DELETE /resources/{r}/records?ids=a,b      DeleteResourceRecord
//
// The list operations page with the offset and size query parameters (size
// 500 by default and at most; ListLogStores: 200, at most 500).
//
// Every request is authenticated against a twin/acs.Keyring: signature V1
// ("LOG <ak>:<base64 hmac-sha1>" over method, Content-MD5, Content-Type,
// Date, the x-log-*/x-acs-* headers but x-log-date, and the resource; the
// SDK default; an x-log-date header replaces Date's value, and Date must
// still be sent, as the common request headers say) or V4
// ("SLS4-HMAC-SHA256", used when the client sets AuthVersion v4 and a
// region); STS credentials must carry their token in x-acs-security-token.
// A project belongs to the account that created it; other accounts are
// refused with Unauthorized. Errors have the real shape: HTTP status, body
// {"errorCode","errorMessage"} and the x-log-requestid header.
//
// PutLogs accepts the protobuf LogGroup uncompressed or compressed with lz4
// (the SDK default), zstd or deflate (x-log-compresstype), checks
// x-log-bodyrawsize and refuses a log group over 5 MB (PostBodyTooLarge).
// Logs are kept in memory; Server.Logs reads them back for tests.
//
// The SDK addresses "<project>.<endpoint>", which does not resolve for an IP
// endpoint such as 127.0.0.1:port; HTTPClient returns a client that dials
// the twin's address whatever the host name.
//
// The query language is a subset of the search statement: `*`, bare words
// and "quoted phrases" (full-text index), `key:value` and `key:"a phrase"`
// (key must be in the index), `key:prefix*`, `key:*` (key present),
// `__topic__:`, `__source__:`, `__tag__:name:` terms, joined by and / or /
// not (also && and ||, and juxtaposition meaning and) with parentheses.
// Values are matched token-wise using the index's delimiter list and case
// sensitivity, as the real service does.
//
// Saved searches, alert rules and dashboards answer with the codes the
// service is known to use: SavedSearchNotExist ("specified savedsearch does
// not exist"), JobNotExist, JobAlreadyExist ("Job <name> already exists"),
// DashboardNotExist ("specified dashboard does not exist"), ParameterInvalid
// "specified dashboard already exists" for a second CreateDashboard (not a
// DashboardAlreadyExist code), PostBodyInvalid "Duplicate chart title: <t>",
// InvalidDashboardName, ExceedQuota (more than 100 saved searches or 200
// charts), ResourceNotExist and ResourceRecordNotExist (from the Java and
// Python SDKs' tests and aliyun/terraform-provider-alicloud). An alert
// rule's configuration, schedule and a dashboard's charts are kept as sent
// and answered back unchanged; a rule is enabled unless its state (or
// status) says Disabled, and UpdateAlert without one leaves it as it was.
//
// Where the twin differs from the real service:
//   - No analytics: a query with "| SELECT ..." is refused (NotSupported);
//     no range queries on long/double keys (key > n), no fuzzy or
//     Chinese-aware search; GetLogs is always "Complete".
//   - One implicit shard per logstore; shard count, TTL and auto-split are
//     recorded but have no effect. Logs are never expired and log times are
//     not checked against TTL or the future.
//   - No quotas (write/read QPS, shard throughput) and no throttling unless a
//     fault is injected with SetFault.
//   - No RAM policies: every key of the owning account may do everything;
//     any other account is refused.
//   - A project is named by the first label of the Host; a bare IP address
//     or "localhost" names none. Project names are unique across the twin,
//     not per region.
//   - The full-text index is required for bare words (the twin refuses
//     with ParameterInvalid instead of returning nothing); a key not in the
//     index is refused likewise.
//   - ListLogStores ignores telemetryType and mode (every logstore is a
//     Standard log store) and refuses a size outside 1–500 or a negative
//     offset with ParameterInvalid; its total counts the names matching
//     logstoreName.
//   - GetHistograms, cursors/PullLogs, consumer groups, machine groups,
//     Logtail configs, metric stores, charts on their own, user-defined
//     resources and everything else are not served.
//   - Nothing runs: alert rules are never evaluated and notify no one;
//     dashboards are never drawn. Saved-search, alert and chart queries are
//     stored, not parsed, and the logstores, dashboards and action policies
//     they name need not exist.
//   - Assumed, not documented: the codes of a second CreateSavedSearch
//     (400 SavedSearchAlreadyExist) and of a second CreateResourceRecord
//     (400 ResourceRecordAlreadyExist); 404 for the *NotExist codes and 400
//     for JobAlreadyExist, as for logstores; the message of JobNotExist.
//   - Only Alert jobs are served (CreateAlert refuses another type with
//     ParameterInvalid). Alert rule names are not checked beyond being
//     present, dashboard names against [A-Za-z0-9_-]{2,128}, saved-search
//     names for 3 to 63 characters; a saved search's configuration of 64
//     KiB or more is refused with PostBodyInvalid.
//   - A resource record's value must be a JSON document; its fields are not
//     checked against the resource's schema, nor its id against the value's
//     id field. DeleteResourceRecord ignores ids without a record.
//   - The Go SDK's ListSavedSearch and ListDashboard send their name filter,
//     offset and size as headers; the twin reads query parameters only, as
//     the API reference gives them, so those calls get the first page.
//   - With V1, x-log-date's value stands for Date's in the string to sign
//     as well as in the clock check (the documentation says it replaces
//     Date's value "for verification"; aliyun-log-python-sdk sends a copy
//     of Date), so Date's own value is then unchecked.
//   - Content-MD5 mismatch answers InvalidContentMD5 and a V4 body hash
//     mismatch InvalidContentSha256; the real codes may differ.
//   - A V4-signed request with a repeated query parameter is refused
//     (SignatureNotMatch): the SDK's SignerV4 signs only its first value.
//     So is any request with Content-MD5, Content-Type or Date repeated:
//     both signatures cover one value of each.
package sls
