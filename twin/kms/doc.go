// Package kms is the offline twin of Alibaba Cloud KMS (API 2016-01-20),
// including the provider side of the KMS 1.0 → 3.0 migration tool.
//
// One *Twin holds the whole estate of every account and region: keys,
// secrets, KMS 3.0 instances and migration tasks. Each region is served by
// its own http.Handler, Twin.Handler(region), an acs.RPCServer that checks
// V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signatures against the twin's
// acs.Keyring, counts calls per action, throttles per account, region and
// API group, injects latency and transient 5xx, and serves the operations
// for the calling account in that region. The operations are also plain
// methods (Twin.DescribeKey, ...) taking a Lane {Account, Region}.
//
// # Operations
//
// Parameters, response fields and error codes are those of
// github.com/alibabacloud-go/kms-20160120/v3 v3.4.0:
// DescribeRegions, ListKeys, DescribeKey, ListKeyVersions, ListAliases,
// ListAliasesByKeyId, ListResourceTags, ListSecrets, DescribeSecret,
// ListSecretVersionIds, UpdateRotationPolicy, UpdateSecretRotationPolicy,
// GetSecretValue, ListKmsInstances, GetKmsInstance,
// GetKmsInstanceQuotaInfos. Lists take PageNumber (>= 1) and PageSize
// (1..100, else InvalidParameter). Not found: Forbidden.KeyNotFound (404),
// Forbidden.AliasNotFound (404, a KeyId starting with alias/),
// Forbidden.ResourceNotFound (404, secrets), Forbidden.DKMSInstanceNotFound
// (404). An account never sees another account's resources: they answer
// as not found.
//
// API groups and default QPS per account and region (DefaultQuotas):
// KeyMetadata 50 (ListKeys, DescribeKey, ListKeyVersions, ListAliases,
// ListAliasesByKeyId), KeyModify 30 (UpdateRotationPolicy), SecretMetadata
// 40 (ListSecrets, DescribeSecret, ListSecretVersionIds), SecretModify 30
// (UpdateSecretRotationPolicy), SecretValue 450 (GetSecretValue),
// ResourceTags 300 (ListResourceTags), Instance 20 (DescribeRegions,
// ListKmsInstances, GetKmsInstance, GetKmsInstanceQuotaInfos), Migration
// 10 (the three task actions). Over quota: 429 Rejected.Throttling.
//
// # Migration task actions
//
// Not in the public SDK: the product sends them by name with the SDK's
// generic signed CallApi (RPC style, version 2016-01-20). The names are
// configurable (Options.MigrationActions). With Options.TaskAPIAbsent
// (kmsmig twin --task-api absent) none of them is served: each is answered
// exactly as any action the gateway does not know, 404
// InvalidAction.NotFound "Specified api is not found, please check your url
// and method.", the weakest reading of a cloud where the task API does not
// exist under these names.
//
// CreateMigrationTask
//
//	KmsInstanceId  required; the target instance
//	Method         manual (default: starts now) | automatic
//	MigrationTime  RFC 3339; required for automatic, not in the past
//	KeyIds         JSON array of key ids, ARNs or aliases (at most 50)
//	SecretNames    JSON array of secret names (at most 50)
//	All            true: every key (service keys and migrated ones left
//	               out) and secret of the caller in the region; exclusive
//	               with KeyIds/SecretNames
//	→ {"RequestId", "TaskId", "Status": "Pending"|"Scheduled"}
//
// Refusals of the whole task (HTTP status, Code):
//
//	400 InvalidParameter / MissingParameter      malformed request
//	404 Forbidden.DKMSInstanceNotFound           no such instance
//	400 Rejected.InstanceRegionMismatch          instance of another region
//	403 Forbidden.InstanceNotShared              instance neither owned by nor shared with the caller
//	403 Forbidden.DKMSInstanceStateInvalid       instance expired (end date not after now) or status not Connected (rules.CheckInstance)
//	400 Rejected.InstanceVersionTooLow           software image older than 2.9.0 (hardware: not checked)
//	409 Rejected.MigrationInProgress             a task of the instance is Running, or a listed resource is in an unfinished task
//	404 Forbidden.KeyNotFound / Forbidden.ResourceNotFound   a listed resource does not exist
//	400 Rejected.LimitExceeded                   more than 50 keys or 50 secrets (Options.MaxKeysPerTask/MaxSecretsPerTask),
//	                                             or, with Options.MaxResourcesPerTask (the console's reading), more in total
//	400 Rejected.InsufficientQuota               free key or secret quota (counting unfinished tasks) below the selection's need
//
// DescribeMigrationTask (TaskId) → the task as a flat object:
//
//	{"RequestId", "TaskId", "KmsInstanceId", "RegionId", "Method",
//	 "Status": "Pending"|"Scheduled"|"Running"|"Completed",
//	 "CreateTime", "MigrationTime", "StartTime", "EndTime",
//	 "KeyCount", "SecretCount",
//	 "Results": [{"ResourceType": "Key"|"Secret", "ResourceId",
//	              "Status": "Succeeded"|"Failed"|"Skipped",
//	              "ReasonCode", "Message"}]}
//
// Results is present once the task is Completed ("Completed" only says the
// task ended). A task of another account or region: 404
// Forbidden.MigrationTaskNotFound.
//
// ListMigrationTasks (PageNumber, PageSize 1..100 default 10, Status) →
// {"RequestId", "Tasks": [task without Results], "TotalCount",
// "PageNumber", "PageSize"}, in creation order.
//
// Per-resource rules, evaluated when the task starts (ReasonCode):
//
//	Skipped AlreadyMigrated             the resource already has a DKMSInstanceId
//	Failed  ServiceKeyNotMigratable     service key (alias alias/acs/<product>)
//	Failed  ExternalKeyMaterial         Origin EXTERNAL
//	Failed  KeyPendingDeletion          KeyState PendingDeletion
//	Failed  KeyDisabled                 KeyState Disabled
//	Failed  KeyPendingImport            KeyState PendingImport
//	Failed  RotationEnabled             automatic rotation still on (key or secret)
//	Failed  EncryptionKeyNotMigrated    the secret's CMK is not in this instance before the task starts (same task is too late)
//	Failed  SecretNameExistsInInstance  the target instance already has a secret of that name
//	Failed  DuplicateSecretName         another account that may migrate into the instance (owner or shared with) holds an
//	                                    unmigrated secret of that name in the region; every copy fails, the message names
//	                                    the other accounts (rules.SecretHolders)
//	Failed  QuotaExceeded               the instance ran out of quota at completion
//	Failed  <code>                      injected by Twin.FailResource (default InjectedFailure)
//
// On completion every Succeeded resource shows DKMSInstanceId in
// DescribeKey/DescribeSecret and the instance's UsedQuantity rises. While
// a task is Running, UpdateRotationPolicy and UpdateSecretRotationPolicy
// on its resources, and CreateMigrationTask on its instance, are refused
// with 409 Rejected.MigrationInProgress; GetSecretValue and every read keep
// working.
//
// Tasks run on simulated time (Options.Clock; tests use a ManualClock and
// never sleep): a manual task is Pending for Timing.QueueDelay (default 0)
// then Running; an automatic one is Scheduled until MigrationTime; a task
// waits while another task of its instance runs; it runs for
// (Base + PerResource × resources) / Speed (defaults 30 s, 2 s, 1).
// Progress is computed lazily on the next call, in time order.
//
// # Inventory format
//
// A JSON document (type Inventory, at most 64 MiB) seeds the twin;
// ParseInventory refuses trailing data, unknown fields (names match
// exactly), fields given twice, wrong JSON types and broken rules, each as
// "<JSON path>: <reason>", e.g.
// accounts[1].regions["cn-hangzhou"].keys[3].origin: must be Aliyun_KMS or EXTERNAL.
// LoadInventory("demo") returns the built-in demo estate (demo.json);
// Generate builds large deterministic estates.
//
//	{"accounts": [{
//	  "id": "1111000011110001",              numeric, unique
//	  "accessKeyId": "", "accessKeySecret": "",  optional fixed access key (both or neither; the id unique)
//	  "regions": {"cn-hangzhou": {
//	    "keys": [{
//	      "keyId": "<lower-case UUID, unique in the estate>",
//	      "aliases": ["alias/..."],          unique in the account and region; alias/acs/<product> marks a service key
//	      "description": "",
//	      "keySpec": "Aliyun_AES_256",       Aliyun_AES_256|_128|_192, Aliyun_SM4, RSA_2048|3072|4096, EC_P256, EC_P256K, EC_SM2
//	      "keyUsage": "ENCRYPT/DECRYPT",     or SIGN/VERIFY
//	      "protectionLevel": "SOFTWARE",     or HSM
//	      "origin": "Aliyun_KMS",            or EXTERNAL (imported material)
//	      "keyState": "Enabled",             Disabled, PendingDeletion, PendingImport
//	      "creator": "",                     default the account id; a product name only for service keys
//	      "creationDate": "2024-01-01T00:00:00Z", "deleteDate": "" (PendingDeletion only),
//	      "deletionProtection": false,
//	      "automaticRotation": "Disabled",   Enabled needs rotationInterval, not with EXTERNAL
//	      "rotationInterval": "604800s",     604800s..31536000s
//	      "lastRotationDate": "",
//	      "versions": [{"keyVersionId": "...", "creationDate": "..."}],  default one derived version
//	      "tags": {"k": "v"},
//	      "dkmsInstanceId": ""               already migrated: an instance of this region owned by or shared with the account
//	    }],
//	    "secrets": [{
//	      "secretName": "...",               1..192 of [A-Za-z0-9_/+=.@-], unique in the account and region
//	      "secretType": "Generic",           Rds, RAMCredentials, ECS
//	      "description": "", "extendedConfig": "", "createTime": "",
//	      "encryptionKeyId": "",             key id or alias of an ENCRYPT/DECRYPT key of the lane; empty: system key
//	      "automaticRotation": "Disabled",   Enabled only for dynamic secrets, needs rotationInterval
//	      "rotationInterval": "", "lastRotationDate": "",
//	      "secretData": "...",               value of the single default version v1 (ACSCurrent)
//	      "versions": [{"versionId", "versionStages": ["ACSCurrent"], "createTime", "secretData"}],  exactly one ACSCurrent
//	      "tags": {"k": "v"},
//	      "dkmsInstanceId": ""
//	    }],
//	    "instances": [{                      owned by this account, in this region
//	      "kmsInstanceId": "kst-...",        unique
//	      "name": "", "type": "software",    or hardware
//	      "imageVersion": "2.9.0",
//	      "keyQuota": 1000, "secretQuota": 100,   each 0 to 1,000,000
//	      "keysUsed": 0, "secretsUsed": 0,   created natively in the instance
//	      "secretNames": [],                 names of those native secrets (at most secretsUsed)
//	      "status": "Connected",             Connecting, Disconnected, Error
//	      "startDate": "", "endDate": "", "expiresInDays": 0,  exactly one of endDate and expiresInDays (from twin start, ±36500)
//	      "autoRenewal": false,
//	      "sharedWith": ["<account id>"],    other inventory accounts
//	      "spec": 1000, "vpcNum": 1
//	    }]}}}]}
//
// The demo estate has three accounts over cn-hangzhou, cn-shanghai and
// cn-beijing (no instance): an imported-material key, a service key, a
// pending-deletion and a disabled key, a rotating key and a rotating Rds
// secret, a secret under a CMK and others under the system key, a secret
// name duplicated across two accounts sharing an instance and one already
// in the instance, already-migrated resources, and instances with a
// too-old image, too little quota, an expiry in 10 days without
// auto-renewal, and none shared with the third account.
//
// # Where the twin differs from the real service
//
//   - Only the operations above exist; no cryptography (Encrypt, Decrypt,
//     GenerateDataKey, ...) and no create/delete of keys, secrets or aliases.
//     Tests change the estate as its owners would through test controls,
//     methods of the twin that no handler serves (controls.go): AddKey,
//     AddSecret, RemoveKey (as if the pending-deletion window had passed),
//     RemoveSecret (forced, without recovery), SetKeyState, refused like
//     any control-plane change while a task lists the resource; TaskLog
//     shows every migration task with its resources.
//     Go methods only, never over HTTP. Besides: Tasks (harness.go) shows
//     every task with its due time and stall; StallTasks, StallTaskWhen
//     (one chosen task, held from its creation) and FailResource inject
//     faults, and AlterOnMigration makes one migration change a key's
//     spec, usage or protection level, or a secret's type or stage label
//     (the real service documents that these are preserved; the twin
//     preserves them unless told otherwise).
//   - The instance rule (expired or not Connected) and the duplicate-name
//     rule are shared/rules, the one implementation the classifier uses
//     too; this is the only package of shared/ a twin imports. The
//     documentation states both rules but not how the service tells who
//     "shares" a name: the twin reads it at its weakest, counting every
//     account the instance is shared with, whether or not it migrates.
//   - The migration task actions, parameters, result shape and reason codes
//     are the twin's design: the real tool is console-only and its API is
//     not published. Task-level codes such as Rejected.InstanceRegionMismatch,
//     Forbidden.InstanceNotShared and Rejected.InstanceVersionTooLow are
//     plausible names, not observed ones.
//   - GetKmsInstance adds fields the v3.4.0 SDK does not model:
//     InstanceType (software|hardware), ImageVersion, AutoRenewal, OwnerId,
//     SharedAccounts.SharedAccount[]. ProductType repeats the instance type
//     and ProductVersion is "3". GetKmsInstanceQuotaInfos ResourceType is
//     KEY, SECRET or VPC.
//   - Migration task times (CreateTime, StartTime, EndTime, MigrationTime)
//     carry milliseconds when they have any, so that rehearsals on an
//     accelerated clock can measure task durations; the real service writes
//     whole seconds.
//   - Secrets created natively inside an instance (the inventory's
//     instance secretNames) are not listed by ListSecrets; they only make
//     a same-named migration fail with SecretNameExistsInInstance.
//   - ListKmsInstances lists instances shared with the caller as well as
//     owned ones; Filters accepts KmsInstanceId and Status.
//   - ListSecrets' SecretName and Description filters match substrings;
//     listing order is inventory order.
//   - Rejected.Disabled (400) answers enabling rotation on a key that is
//     not Enabled; Rejected.UnsupportedOperation (400) answers rotation on
//     EXTERNAL, service or asymmetric keys and on Generic secrets. The real
//     codes may differ.
//   - NextRotationDate is the last rotation (or creation) plus the
//     interval, or now plus the interval when that date has passed; keys
//     never actually rotate and no versions are added.
//   - DescribeSecret reports AutomaticRotation "Invalid" for Generic
//     secrets. GetSecretValue's DryRun=true returns metadata without
//     SecretData. Secret values are held only so tests can prove a caller
//     never reads them (Twin.SecretValueReads).
//   - Migration progress is simulated; after migration, default key and
//     secret policies are not modelled and rotation stays off.
//   - Throttling buckets hold ceil(QPS) tokens (acs.Limiter); the real
//     gateway's burst behaviour is not published.
//   - How far "control-plane operations on the keys, secrets and instance
//     are refused while a migration runs" reaches is not documented. By
//     default the twin freezes only the running task's own resources.
//     Options.FreezeDuringTask (an assumption, the weakest reading) also
//     refuses UpdateRotationPolicy and UpdateSecretRotationPolicy on every
//     key and secret of every account that may migrate into an instance
//     (owner or shared with) in its region while a task of that instance is
//     Pending or Running: 409 Rejected.MigrationInProgress, "Instance
//     <id> is being migrated into by task <id>; control-plane operations on
//     the key <id> are refused until it completes." The product then cannot
//     prepare a lane's next batch while a task runs.
package kms
