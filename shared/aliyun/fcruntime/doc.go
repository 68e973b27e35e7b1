// Package fcruntime is the adapter between the functions and the Function
// Compute Go runtime (github.com/aliyun/fc-runtime-go-sdk), with
// aws-lambda-go's typed handler adapter in front of it.
//
// fc.StartHandler and lambda.Handler share one interface, but
// fc-runtime-go-sdk v0.3.1 reflects on the value it is given and accepts
// only a func, JSON-encoding the func's first result; handing it the
// lambda.Handler directly fails every invocation ("handler kind ptr is not
// func", pinned by twin/fc's tests). Serve therefore wraps the typed
// handler in a func type returning json.RawMessage.
package fcruntime
