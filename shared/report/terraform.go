package report

import (
	"cmp"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Terraform attribute names of the alicloud provider. A key's rotation is
// `automatic_rotation` ("Enabled"/"Disabled"); a secret's is
// `enable_automatic_rotation` (bool), and a secret has no
// `protection_level`. Terraform rejects an ignore_changes entry the
// resource does not have, so the two lists differ.
const (
	attrInstanceID        = "dkms_instance_id"
	attrKeyRotation       = "automatic_rotation"
	attrSecretRotation    = "enable_automatic_rotation"
	attrRotationInterval  = "rotation_interval"
	attrProtectionLevel   = "protection_level"
	lastProviderWithAttr  = "1.235.0"
	hardwareProtection    = "HSM"
	terraformResourceName = "example"
)

func (b *builder) terraform() *Terraform {
	res := map[resID]*TerraformResource{}
	put := func(l estate.Lane, kind verdict.ResourceKind, id, instance, batch string, migrated bool) {
		k := resID{l, kind, id}
		tr := res[k]
		if tr == nil {
			tr = &TerraformResource{LaneRef: refOf(l), Type: TerraformKey, ID: id}
			if kind == verdict.ResourceSecret {
				tr.Type = TerraformSecret
			}
			res[k] = tr
		}
		tr.InstanceID = cmp.Or(tr.InstanceID, instance)
		tr.BatchID = cmp.Or(tr.BatchID, batch)
		tr.Migrated = tr.Migrated || migrated
	}

	// Already migrated: the attribute is there now.
	if b.vs != nil {
		for _, l := range b.lanes {
			for _, v := range b.byLane[l] {
				if v.Verdict == verdict.AlreadyMigrated && v.InstanceID != "" {
					put(l, v.Resource, v.ID, v.InstanceID, "", true)
				}
			}
		}
	} else if b.inv != nil {
		for _, li := range b.inv.Lanes {
			for _, k := range li.Keys {
				if k.Migrated() {
					put(li.Lane, verdict.ResourceKey, k.ID, k.InstanceID, "", true)
				}
			}
			for _, s := range li.Secrets {
				if s.Migrated() {
					put(li.Lane, verdict.ResourceSecret, s.Name, s.InstanceID, "", true)
				}
			}
		}
	}
	// Planned: the plan says what migrates; without a plan, the verdicts.
	switch {
	case b.p != nil:
		for _, lp := range b.p.Lanes {
			for _, bt := range lp.Batches {
				for _, id := range bt.Keys {
					put(lp.Lane, verdict.ResourceKey, id, bt.InstanceID, bt.ID, false)
				}
				for _, id := range bt.Secrets {
					put(lp.Lane, verdict.ResourceSecret, id, bt.InstanceID, bt.ID, false)
				}
			}
		}
	case b.vs != nil:
		for _, l := range b.lanes {
			for _, v := range b.byLane[l] {
				if v.Verdict.WillMigrate() && v.InstanceID != "" {
					put(l, v.Resource, v.ID, v.InstanceID, "", false)
				}
			}
		}
	}
	if len(res) == 0 {
		return nil
	}

	tf := &Terraform{
		KeyIgnoreChanges:    []string{attrInstanceID, attrKeyRotation, attrRotationInterval},
		SecretIgnoreChanges: []string{attrInstanceID, attrSecretRotation, attrRotationInterval},
		HardwareToSoftware:  attrProtectionLevel,
		DropInstanceIDAfter: lastProviderWithAttr,
		Resources:           make([]TerraformResource, 0, len(res)),
	}
	for k, tr := range res {
		if v, ok := b.verdictOf[k]; ok && len(v.Aliases) > 0 {
			tr.Aliases = slices.Clone(v.Aliases)
		} else if key := b.keys[k]; key != nil && len(key.Aliases) > 0 {
			tr.Aliases = slices.Clone(key.Aliases)
		}
		if key := b.keys[k]; key != nil && !tr.Migrated {
			tr.AddProtectionLevel = strings.EqualFold(key.ProtectionLevel, hardwareProtection) &&
				b.instKind[tr.InstanceID] == estate.InstanceSoftware
		}
		tf.Resources = append(tf.Resources, *tr)
	}
	slices.SortFunc(tf.Resources, func(x, y TerraformResource) int {
		return cmp.Or(x.Lane().Compare(y.Lane()), cmp.Compare(x.Type, y.Type), cmp.Compare(x.ID, y.ID))
	})
	return tf
}

// withoutInstanceID is an ignore_changes list for alicloud provider
// versions after DropInstanceIDAfter.
func withoutInstanceID(attrs []string) []string {
	return slices.DeleteFunc(slices.Clone(attrs), func(a string) bool { return a == attrInstanceID })
}

// hclLifecycle renders a resource block holding only the lifecycle block
// with attrs, the form users paste into their configuration.
func hclLifecycle(resourceType string, attrs []string) string {
	return "resource \"" + resourceType + "\" \"" + terraformResourceName + "\" {\n" +
		"  # ... existing arguments ...\n" +
		"  lifecycle {\n" +
		"    ignore_changes = [" + strings.Join(attrs, ", ") + "]\n" +
		"  }\n" +
		"}\n"
}

// hclInstanceID renders the alternative: the instance written into the
// configuration.
func hclInstanceID(resourceType, instanceID string) string {
	return "resource \"" + resourceType + "\" \"" + terraformResourceName + "\" {\n" +
		"  # ... existing arguments ...\n" +
		"  " + attrInstanceID + " = \"" + instanceID + "\"\n" +
		"}\n"
}
