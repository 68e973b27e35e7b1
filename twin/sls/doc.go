// Package sls is the offline twin of Simple Log Service (SLS): an
// http.Handler that speaks the REST API the official client
// github.com/aliyun/aliyun-log-go-sdk (v0.1.124) and its producer send, for
// the operations the migration needs to write and read its audit trail.
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
//     Logtail configs, metric stores and everything else are not served.
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
