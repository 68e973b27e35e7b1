// Package acs is the common ground of the offline twins of Alibaba Cloud
// services: the accounts and access keys they all recognise (a Keyring,
// including STS credentials minted for roles), verification of the request
// signatures the official SDKs send (Verifier: V3 ACS3-HMAC-SHA256 for RPC
// and ROA styles, V1 HMAC-SHA1 for RPC style), the OpenAPI error shape,
// request ids, the RPC service frame the twins plug their actions into
// (RPCServer, Call), the throttling (Limiter) and fault injection (Faults)
// that frame applies in front of the actions, and the STS twin
// (NewSTSServer, AssumeRole, GetCallerIdentity).
//
// Where it differs from the real service:
//   - Accounts and access keys are created in memory from an inventory; there
//     is no RAM: every key of an account may call every action, and RAM role
//     ARNs are accepted for AssumeRole when the role names an account the
//     keyring knows. Any authenticated caller may assume such a role (no
//     trust policy); Policy and ExternalId are accepted and ignored.
//   - STS tokens are opaque random strings, not the real encoded tokens; an
//     STS access key is recognised by lookup, not by decoding its token.
//   - Only ACS3-HMAC-SHA256 (not SM3 or RSA) and HMAC-SHA1 are verified;
//     bearer tokens and the V4 gateway signature are refused.
//   - A query parameter repeated in a V3 request is signed value by value
//     in the canonical query (the SDKs, whose query is a map, never send
//     one), so no value travels unsigned.
//   - A V1 SignatureDoesNotMatch echoes the string to sign in the gateway's
//     words ("Specified signature is not matched with our calculation.
//     server string to sign is:<string>"), but with a SecurityToken's value
//     replaced by "***", so that no credential reaches an error log; the
//     SDKs then cannot match it with their own and report a plain mismatch
//     rather than a wrong secret. V3 refusals echo nothing.
//   - Signature nonces are remembered until their request's timestamp leaves
//     the skew window or until VerifierOptions.MaxNonces newer ones have
//     pushed them out, whichever comes first.
//   - Responses are always JSON; the V1 Format=XML parameter is ignored.
//   - AssumeRole's DurationSeconds is capped at 1 hour (configurable), the
//     real default MaxSessionDuration of a role. AssumedRoleId is derived
//     from the role ARN, not a real role id.
//   - GetCallerIdentity answers from the keyring alone: a long-term key is
//     its account (IdentityType Account, Arn acs:ram::<account>:root; the
//     twin has no RAM users); an STS credential is AssumedRoleUser with Arn
//     acs:ram::<account>:assumed-role/<role name>/<session>, where
//     <session> is the credential's access key id, not the
//     RoleSessionName given to AssumeRole (the keyring keeps none), and
//     RoleId is derived from the role ARN. The real service documents
//     these fields without fixing the form of PrincipalId; callers should
//     record them, not parse them.
//   - Error codes for missing signature fields (MissingTimestamp,
//     MissingSignatureNonce, ...) follow the real V1 names for V3 requests
//     too.
package acs
