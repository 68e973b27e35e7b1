// Package eventjson decodes the functions' events, and the timer payloads
// inside them, strictly: one JSON value and nothing after it, field names
// matched exactly (encoding/json alone matches them case-insensitively),
// no field given twice, no unknown field; an event type may accept some of
// its events leniently (Lenient). The Function Compute runtime adapter
// (shared/aliyun/fcruntime) and the use cases (shared/app) both decode
// through Decode, so what the fuzz targets drive is what production does.
// It imports nothing but the standard library.
package eventjson
