// Package fcruntime is the adapter between the functions and the Function
// Compute Go runtime (github.com/aliyun/fc-runtime-go-sdk): it decodes each
// event with shared/eventjson (strict: one JSON value, exact field names,
// no unknown or repeated field; lenient only where the event type says so)
// and serves the typed handler through aws-lambda-go's typed handler
// adapter, which encodes its result as JSON.
//
// fc-runtime-go-sdk v0.3.1 reflects on the value it is given and accepts
// only a func, JSON-encoding the func's first result; handing it a value
// with an Invoke method fails every invocation ("handler kind ptr is not
// func", pinned by twin/fc's tests). Handler therefore returns a func type
// returning json.RawMessage.
package fcruntime
