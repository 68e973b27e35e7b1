// Package sdkerr turns the errors of the darabonba/tea-based Alibaba Cloud
// SDKs (KMS, Function Compute through the OpenAPI client) into
// *cloud.APIError, so that every adapter reports refusals the same way and
// the domain never inspects an SDK type.
package sdkerr
