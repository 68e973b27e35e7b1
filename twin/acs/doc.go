// Package acs is the common ground of the offline twins of Alibaba Cloud
// services: the accounts and access keys they all recognise (a Keyring,
// including STS credentials minted for roles), verification of the request
// signatures the official SDKs send, the OpenAPI error shape, request ids,
// and the throttling and fault injection that the twins apply in front of
// their operations.
//
// Where it differs from the real service:
//   - Accounts and access keys are created in memory from an inventory; there
//     is no RAM: every key of an account may call every action, and RAM role
//     ARNs are accepted for AssumeRole when the role names an account the
//     keyring knows.
//   - STS tokens are opaque random strings, not the real encoded tokens.
package acs
