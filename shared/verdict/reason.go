package verdict

// Reason is a stable code explaining why a resource is blocked or why a
// lane carries a finding. Codes never change meaning once published:
// dashboards, alerts and plans match on them.
type Reason string

// Reason codes. The table returned by Reasons documents each one.
const (
	ServiceKey              Reason = "service-key"
	ImportedKeyMaterial     Reason = "imported-key-material"
	KeyPendingDeletion      Reason = "key-pending-deletion"
	KeyDisabled             Reason = "key-disabled"
	KeyStateUnsupported     Reason = "key-state-unsupported"
	KeyMultipleVersions     Reason = "key-multiple-versions"
	SecretCMKBlocked        Reason = "secret-cmk-blocked"
	SecretCMKUnknown        Reason = "secret-cmk-unknown"
	SecretCMKOtherInstance  Reason = "secret-cmk-other-instance"
	DuplicateSecretName     Reason = "duplicate-secret-name"
	NoTargetInstance        Reason = "no-target-instance"
	InstanceNotShared       Reason = "instance-not-shared"
	InstanceImageTooOld     Reason = "instance-image-too-old"
	InstanceImageUnverified Reason = "instance-image-unverified"
	InstanceQuotaTooSmall   Reason = "instance-quota-too-small"
	InstanceExpired         Reason = "instance-expired"
	InstanceNotConnected    Reason = "instance-not-connected"
	InstanceExpiringNoRenew Reason = "instance-expiring-no-autorenew"
	InstanceNoAutoRenew     Reason = "instance-no-autorenew"
	DiscoveryIncomplete     Reason = "discovery-incomplete"
	TaskAPIUnavailable      Reason = "task-api-unavailable"
)

// Severity says what a Reason asks of people.
type Severity string

// Severities, from nothing to do to must fix.
const (
	// SeverityInfo: nothing to do; the resource is out of the migration's
	// scope by design.
	SeverityInfo Severity = "info"
	// SeverityWarning: the migration can proceed, but a person should act.
	SeverityWarning Severity = "warning"
	// SeverityDecision: a person must decide what happens to the resource.
	SeverityDecision Severity = "decision"
	// SeverityBlocker: something must be fixed before the resource can
	// migrate.
	SeverityBlocker Severity = "blocker"
)

// Scope says what a Reason is attached to.
type Scope string

// Scopes of reasons.
const (
	ScopeKey      Scope = "key"
	ScopeSecret   Scope = "secret"
	ScopeInstance Scope = "instance"
	ScopeLane     Scope = "lane"
)

// ReasonInfo documents one reason code: its severity, what it applies to,
// and what to do about it in general (a Verdict's remediation is the
// specific sentence, with names and figures).
type ReasonInfo struct {
	Code     Reason   `json:"code"`
	Severity Severity `json:"severity"`
	Scope    Scope    `json:"scope"`
	// Blocks reports whether a resource carrying the reason does not
	// migrate (false for warnings only).
	Blocks bool   `json:"blocks"`
	Action string `json:"action"`
}

var reasons = []ReasonInfo{
	{ServiceKey, SeverityInfo, ScopeKey, true, "None: a cloud product created the key for server-side encryption; service keys stay in KMS 1.0's default keys view."},
	{ImportedKeyMaterial, SeverityBlocker, ScopeKey, true, "The migration tool cannot move imported (BYOK) key material: keep the key in KMS 1.0, or create a key in the instance and re-encrypt."},
	{KeyPendingDeletion, SeverityDecision, ScopeKey, true, "Cancel the scheduled deletion to migrate the key, or let the deletion happen."},
	{KeyDisabled, SeverityDecision, ScopeKey, true, "Enable the key to migrate it, or schedule its deletion."},
	{KeyStateUnsupported, SeverityDecision, ScopeKey, true, "Bring the key to Enabled (or decide to delete it) and run discovery again."},
	{KeyMultipleVersions, SeverityDecision, ScopeKey, true, "Older documentation excludes keys with several versions: confirm with Alibaba Cloud support, or classify without strict key versions."},
	{SecretCMKBlocked, SeverityBlocker, ScopeSecret, true, "Resolve the blocked CMK first: a secret under a CMK migrates only after that CMK."},
	{SecretCMKUnknown, SeverityBlocker, ScopeSecret, true, "The secret's CMK is not among the lane's discovered keys: check the key and run discovery again."},
	{SecretCMKOtherInstance, SeverityBlocker, ScopeSecret, true, "The secret's CMK already lives in another instance: make that instance the lane's target."},
	{DuplicateSecretName, SeverityBlocker, ScopeSecret, true, "Rename or delete one of the secrets sharing the name; names do not change in migration."},
	{NoTargetInstance, SeverityBlocker, ScopeLane, true, "Buy a KMS 3.0 instance in the lane's region, or have one shared with the account, or fix the lane's explicit target."},
	{InstanceNotShared, SeverityBlocker, ScopeInstance, true, "The instance's owner must share it with the account within the resource directory."},
	{InstanceImageTooOld, SeverityBlocker, ScopeInstance, true, "Upgrade the instance image: software instances in the console, hardware instances through the account manager."},
	{InstanceImageUnverified, SeverityWarning, ScopeInstance, false, "The instance did not report its image version: check in the console that it meets the minimum before the first batch."},
	{InstanceQuotaTooSmall, SeverityBlocker, ScopeInstance, true, "Raise the instance's key or secret quota, or migrate fewer resources into it."},
	{InstanceExpired, SeverityBlocker, ScopeInstance, true, "Renew the instance: the migration tool refuses an expired instance, and once it is released the data its keys protect cannot be decrypted."},
	{InstanceNotConnected, SeverityBlocker, ScopeInstance, true, "Bring the instance to Connected (finish its VPC connection, or fix the error the console shows): the migration tool refuses any other status."},
	{InstanceExpiringNoRenew, SeverityWarning, ScopeInstance, false, "Turn on auto-renewal: an expired, released instance makes the data it protects undecryptable."},
	{InstanceNoAutoRenew, SeverityWarning, ScopeInstance, false, "Turn on auto-renewal, which the migration guide recommends for every instance: an expired, released instance makes the data it protects undecryptable."},
	{DiscoveryIncomplete, SeverityWarning, ScopeLane, false, "Discovery met errors in this lane: run it again before trusting what is absent."},
	{TaskAPIUnavailable, SeverityBlocker, ScopeLane, true, "The migration task API did not answer discovery's probe: set KMSMIG_TASK_ACTIONS to the provider's task action names and grant them, or set KMSMIG_BACKEND=observe to start each batch in the console; then run discovery again."},
}

var reasonIndex = func() map[Reason]ReasonInfo {
	m := make(map[Reason]ReasonInfo, len(reasons))
	for _, r := range reasons {
		m[r.Code] = r
	}
	return m
}()

// Info returns the table entry of r and true, or false for a code this
// version does not know.
func (r Reason) Info() (ReasonInfo, bool) {
	i, ok := reasonIndex[r]
	return i, ok
}

// Severity returns r's severity; unknown codes count as blockers so that
// nothing unknown is waved through.
func (r Reason) Severity() Severity {
	if i, ok := reasonIndex[r]; ok {
		return i.Severity
	}
	return SeverityBlocker
}

// NeedsAction reports whether a blocked resource with reason r asks
// something of a person, that is anything but an info reason.
func (r Reason) NeedsAction() bool { return r != "" && r.Severity() != SeverityInfo }
