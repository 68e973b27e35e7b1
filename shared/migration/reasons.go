package migration

import (
	"strings"
)

// Reason codes the engine adds to the provider's.
const (
	// ReasonResourceGone: the resource no longer exists.
	ReasonResourceGone = "ResourceNotFound"
	// ReasonKeyPendingDeletion and ReasonKeyDisabled: the key's state, as
	// DescribeKey reports it, keeps it out of a migration.
	ReasonKeyPendingDeletion = "KeyPendingDeletion"
	ReasonKeyDisabled        = "KeyDisabled"
	// ReasonAllDropped: every resource of the batch was dropped (gone,
	// scheduled for deletion, disabled); there is nothing to migrate.
	ReasonAllDropped = "NothingLeftToMigrate"
	// ReasonNotObserved: the task ended but the resource does not show the
	// batch's instance id (whatever the task reported).
	ReasonNotObserved = "NotObservedInInstance"
	// ReasonTaskNotFound: the provider no longer knows the batch's task.
	ReasonTaskNotFound = "TaskNotFound"
	// ReasonMigratedElsewhere: the resource lives in another instance.
	ReasonMigratedElsewhere = "MigratedToAnotherInstance"
	// ReasonInstanceQuota: the instance lacks quota for the batch.
	ReasonInstanceQuota = "InstanceQuotaTooSmall"
	// ReasonInstanceState: the instance has expired or is not Connected,
	// as the pre-flight saw it (the provider's code for the same refusal).
	// Permanent (classes): the provider refuses such an instance
	// (shared/rules), and retrying would only switch rotation off and on.
	ReasonInstanceState = "Forbidden.DKMSInstanceStateInvalid"
	// ReasonAttemptsExhausted: a retryable failure that reached
	// Config.MaxAttempts.
	ReasonAttemptsExhausted = "AttemptsExhausted"
	// ReasonAborted: an operator ended the batch (Abort).
	ReasonAborted = "Aborted"
	// ReasonOwnerChanged: while kmsmig held a resource's rotation off, its
	// owner set a policy of their own; kmsmig left it as they set it.
	ReasonOwnerChanged = "RotationChangedByOwner"
	// ReasonNotMovedByOperator: observe backend; the resource was not in
	// the batch's instance when the observation timed out.
	ReasonNotMovedByOperator = "NotMovedByOperator"
)

// Class is the classification of a failure reason code.
type Class struct {
	// Retryable failures go into a new batch; the others are reported.
	Retryable bool
	// Remediation says what a person should do about a reported failure.
	Remediation string
}

// classes is the reason table. Codes not listed are retryable: an unknown
// failure is worth another attempt, and MaxAttempts bounds the cost.
var classes = map[string]Class{
	// Retryable: the provider or the moment, not the resource.
	"Throttling":                         {true, "Transient: retried automatically."},
	"Rejected.Throttling":                {true, "Transient: retried automatically."},
	"ServiceUnavailable":                 {true, "Transient: retried automatically."},
	"InternalError":                      {true, "Transient: retried automatically."},
	"Rejected.MigrationInProgress":       {true, "Another task held the resource or instance; retried automatically."},
	"RotationEnabled":                    {true, "Rotation was switched on again during the run; it is switched off and the resource retried."},
	"EncryptionKeyNotMigrated":           {true, "The secret's CMK had not migrated yet; retried after it."},
	ReasonNotObserved:                    {true, "The task did not move the resource; retried automatically."},
	ReasonTaskNotFound:                   {true, "The provider lost the task; retried automatically."},
	"Forbidden.DKMSInstanceStateInvalid": {false, "The instance has expired or is not Connected: renew it or finish its connection, then plan again."},

	// Permanent: the resource or the instance needs a decision.
	"ExternalKeyMaterial":             {false, "Keys with imported (BYOK) material cannot be migrated; keep the key in KMS 1.0 or re-create it in the instance and re-encrypt."},
	"ServiceKeyNotMigratable":         {false, "Service keys are not migrated and need no action."},
	ReasonKeyPendingDeletion:          {false, "The key is scheduled for deletion: cancel the deletion to migrate it, or let it go."},
	ReasonKeyDisabled:                 {false, "The key is disabled: enable it to migrate it, or leave it."},
	"KeyPendingImport":                {false, "The key has no key material: import it or delete the key."},
	"SecretNameExistsInInstance":      {false, "The instance already has a secret of that name: rename or remove one of them, then plan again."},
	"DuplicateSecretName":             {false, "Another account sharing the instance has a secret of that name: rename one, then plan again."},
	"QuotaExceeded":                   {false, "The instance ran out of quota: raise its key or secret quota, then plan again."},
	"Rejected.InsufficientQuota":      {false, "The instance lacks quota for the batch: raise its key or secret quota, then plan again."},
	ReasonInstanceQuota:               {false, "The instance lacks quota for the batch: raise its key or secret quota, then plan again."},
	"Rejected.InstanceVersionTooLow":  {false, "Upgrade the instance image to 2.9.0 or later, then plan again."},
	"Rejected.InstanceRegionMismatch": {false, "Target an instance of the lane's own region."},
	"Forbidden.InstanceNotShared":     {false, "Share the instance with the account (resource directory), then plan again."},
	"Forbidden.DKMSInstanceNotFound":  {false, "The target instance does not exist: choose another target and plan again."},
	"Rejected.LimitExceeded":          {false, "The batch exceeds the per-task limits: lower the batch size and plan again."},
	"InvalidParameter":                {false, "The request was malformed: report this as a bug."},
	"MissingParameter":                {false, "The request was malformed: report this as a bug."},
	"Forbidden.NoPermission":          {false, "Grant the function's role the KMS migration permissions."},
	"Forbidden.KeyNotFound":           {false, "The key no longer exists."},
	"Forbidden.ResourceNotFound":      {false, "The secret no longer exists."},
	ReasonResourceGone:                {false, "The resource no longer exists."},
	ReasonAllDropped:                  {false, "Every resource of the batch was deleted, scheduled for deletion or disabled since it was planned; nothing to migrate."},
	ReasonMigratedElsewhere:           {false, "The resource already lives in another instance; nothing to migrate."},
	ReasonAttemptsExhausted:           {false, "Retried the maximum number of times: look at the last reason, fix it, and plan again."},
	ReasonAborted:                     {false, "The batch was aborted by an operator: plan again to retry its resources."},
	ReasonTaskAPIUnavailable:          {false, "The migration task API cannot be called in this lane (unknown action, missing permission or refused credentials); nothing was retried and its rotation is restored. " + TaskAPIRemedy},
	ReasonTaskAPIError:                {false, "A migration task call failed twice with a code kmsmig does not know; its rotation is restored and no rotation is switched off in the account again in this run. Check the audit trail for the code; " + TaskAPIRemedy},
	ReasonNotMovedByOperator:          {false, "The resource was not moved in the console before the observation timeout (KMSMIG_OBSERVE_TIMEOUT); its rotation is restored: start its migration in the console (the console shows why it failed, if it did), or plan again."},
}

// Classify returns the class of a failure reason code. Unknown codes are
// retryable, with a generic remediation.
func Classify(code string) Class {
	if c, ok := classes[code]; ok {
		return c
	}
	if strings.HasPrefix(code, "Throttling") {
		return Class{true, "Transient: retried automatically."}
	}
	return Class{true, "Unexpected failure: retried automatically; if it persists, contact support with the task id."}
}
