// Package fc is the adapter between the migration and Function Compute 3.0
// (FC OpenAPI 2023-03-30). It implements migration.Invoker with
// InvokeFunction: POST /2023-03-30/functions/{name}/invocations, header
// x-fc-invocation-type: Async, and x-fc-async-task-id so that a repeated
// chain step invokes its function once. Requests are V3-signed
// (ACS3-HMAC-SHA256) by github.com/alibabacloud-go/darabonba-openapi/v2's
// generic CallApiWithCtx in ROA style, with a credentials-go Credential (on
// Function Compute: the function role's STS credentials). It is the only
// code that touches that SDK for FC; errors come back as *cloud.APIError.
package fc
